"""Server-side SVG charts (admin/reports/charts.py): well-formed, escaped, losses drawn left."""

import xml.etree.ElementTree as ET

import pytest

from admin.reports.charts import NEGATIVE, POSITIVE, Point, bar_chart, line_chart

SVG = "{http://www.w3.org/2000/svg}"


def test_bars_are_one_per_point_and_a_loss_runs_left_in_red():
    chart = ET.fromstring(
        bar_chart("Margin by destination", [Point("France", "-0.01"), Point("UK", "0.03")])
    )
    bars = chart.findall(f"{SVG}rect")
    assert [bar.get("fill") for bar in bars] == [NEGATIVE, POSITIVE]
    zero = float(chart.find(f"{SVG}line").get("x1"))
    loss, profit = bars
    assert float(loss.get("x")) + float(loss.get("width")) == pytest.approx(zero, abs=0.11)
    assert float(profit.get("x")) == pytest.approx(zero, abs=0.11)
    assert float(profit.get("width")) > float(loss.get("width"))  # 0.03 against 0.01
    assert chart.find(f"{SVG}title").text == "Margin by destination"


def test_labels_are_escaped():
    chart = bar_chart("x", [Point("<script>alert(1)</script> & co", "1")])
    assert "<script>" not in chart
    assert ET.fromstring(chart).findall(f"{SVG}text")[1].text.startswith("<script>alert(1)")


def test_a_time_series_is_a_line_broken_where_a_value_is_undefined():
    points = [Point("00:00", "50.00"), Point("01:00", "60.00"), Point("02:00", None)]
    points += [Point("03:00", "40.00"), Point("04:00", "45.50")]
    chart = ET.fromstring(line_chart("ASR % by hour", points))
    lines = chart.findall(f"{SVG}polyline")
    assert [len(line.get("points").split()) for line in lines] == [2, 2]
    texts = [text.text for text in chart.findall(f"{SVG}text")]
    assert "60.00" in texts and "00:00" in texts and "04:00" in texts  # exact, not via float


def test_empty_charts_are_still_svg():
    assert ET.fromstring(bar_chart("nothing", [])).tag == f"{SVG}svg"
    assert ET.fromstring(line_chart("nothing", [])).tag == f"{SVG}svg"
