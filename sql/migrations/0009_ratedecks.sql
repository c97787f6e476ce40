-- 0009: rate-deck column mappings (admin/ratedecks/layout.py), saved per terminator or per
-- tariff and reused by the next import of that vendor's decks; or shared, by name only.

CREATE TABLE rate_deck_mappings (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (name ~ '^\S(.{0,98}\S)?$'),
    terminator_id   bigint UNIQUE REFERENCES terminators (id) ON DELETE CASCADE,
    tariff_id       bigint UNIQUE REFERENCES tariffs (id) ON DELETE CASCADE,
    layout          jsonb NOT NULL CHECK (jsonb_typeof(layout -> 'columns') = 'object'),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (num_nonnulls(terminator_id, tariff_id) <= 1)  -- one owner at most
);
