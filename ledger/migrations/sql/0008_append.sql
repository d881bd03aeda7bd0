-- THE append: any number of events and their entries in ONE statement (ledger.journal
-- calls it for every append, one event or a hundred thousand). It replaces 0007's
-- one-event function and the Python paths that did the same in several round trips.
--
-- In order, as one transaction step under the caller's transaction:
--   1. accounts Python has not cached yet (`accounts_to_read`) are read and returned
--      (flattened id, book, asset triples in out_accounts); if a posting names an account
--      that does not exist or is in another book or asset, nothing is written and the
--      outcome is 'accounts' (Python names the account; the posting trigger would refuse
--      it too, but by aborting the whole transaction);
--   2. the chain lock (a transaction-level advisory lock, ledger.locks.CHAIN_LOCK_KEY);
--   3. idempotency: keys recorded before with the same input are replays (out_replayed,
--      their recorded sequence in out_sequences; Python reads their entry ids); one
--      recorded with other input stops everything: outcome 'conflict', out_conflict is the
--      event's position and out_sequences holds the recorded sequence there;
--   4. the chain's head, then each fresh event's sequence and hash. Python sends the
--      hashed text after the sequence (ledger.canonical.chain_hash_tail); the chain's
--      part is defined here and nowhere else:
--          hash = sha256(prev_hash || '\n' || sequence || '\n' || tail)
--      (ledger_verify recomputes every hash with ledger_event_hash below);
--   5. entry ids for the fresh entries as ONE block of the sequence (setval under the
--      chain lock: every writer of entries holds it), returned per entry in out_entry_ids
--      (0 for entries of replayed events);
--   6. three INSERT ... SELECT FROM unnest(...): events, entries, postings. The tables'
--      triggers project balances and check every invariant once per statement, as for
--      any other insert.
--
-- Events, entries and postings come as parallel arrays (columns); an entry names its
-- event, and a posting its entry, by 1-based position. Within one call the keys are
-- distinct (Python collapses repeats first). Each statement of a VOLATILE PL/pgSQL
-- function takes a new snapshot, so the head and the keys are read after the lock is held.
-- Array elements are read by position from PL/pgSQL variables and arguments, which
-- PL/pgSQL keeps in expanded form: O(1) per element, whatever the batch size.

CREATE FUNCTION ledger_event_hash(prev_hash text, sequence bigint, hash_tail text)
RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT encode(sha256(convert_to(prev_hash || E'\n' || sequence || E'\n' || hash_tail,
                                    'UTF8')), 'hex')
$$;

CREATE FUNCTION ledger_append(
    chain_lock_key bigint,
    genesis_hash text,
    recorded_at timestamptz,
    actor text,
    event_types text[],
    event_payloads text[],
    event_keys text[],
    event_input_hashes text[],
    event_occurred_at timestamptz[],
    event_hash_tails text[],
    entry_events int[],
    entry_books bigint[],
    entry_memos text[],
    entry_reverses bigint[],
    posting_entries int[],
    posting_accounts bigint[],
    posting_assets bigint[],
    posting_sides text[],
    posting_phases text[],
    posting_amounts bigint[],
    accounts_to_read bigint[],
    OUT out_outcome text,
    OUT out_sequences bigint[],
    OUT out_replayed boolean[],
    OUT out_entry_ids bigint[],
    OUT out_conflict int,
    OUT out_accounts bigint[])
LANGUAGE plpgsql AS $$
DECLARE
    events_count int := cardinality(event_keys);
    entries_count int := cardinality(entry_books);
    head_sequence bigint;
    head_hash text;
    event_prev_hashes text[];
    event_hashes text[];
    fresh_entries int := 0;
    next_entry_id bigint;
    position int;
    recorded record;
BEGIN
    IF cardinality(accounts_to_read) > 0 THEN
        SELECT array_agg(ARRAY[a.id, a.book_id, a.asset_id]) INTO out_accounts
          FROM ledger_account a WHERE a.id = ANY(accounts_to_read);
        IF EXISTS (SELECT 1
                     FROM unnest(posting_accounts, posting_assets, posting_entries)
                          AS p(account_id, asset_id, entry_position)
                     LEFT JOIN ledger_account a ON a.id = p.account_id
                    WHERE a.id IS NULL OR a.asset_id <> p.asset_id
                       OR a.book_id <> entry_books[p.entry_position]) THEN
            out_outcome := 'accounts';
            RETURN;
        END IF;
    END IF;

    PERFORM pg_advisory_xact_lock(chain_lock_key);

    out_sequences := array_fill(0::bigint, ARRAY[events_count]);
    out_replayed := array_fill(false, ARRAY[events_count]);
    FOR recorded IN
        SELECT k.position, e.sequence, e.input_hash = event_input_hashes[k.position] AS same
          FROM ledger_event e
          JOIN unnest(event_keys) WITH ORDINALITY AS k(key, position)
            ON k.key = e.idempotency_key
         WHERE e.idempotency_key = ANY(event_keys)
    LOOP
        out_sequences[recorded.position] := recorded.sequence;
        IF NOT recorded.same THEN
            out_outcome := 'conflict';
            out_conflict := recorded.position;
            RETURN;
        END IF;
        out_replayed[recorded.position] := true;
    END LOOP;

    SELECT e.sequence, e.hash INTO head_sequence, head_hash
      FROM ledger_event e ORDER BY e.sequence DESC LIMIT 1;
    IF NOT FOUND THEN
        head_sequence := 0;
        head_hash := genesis_hash;
    END IF;
    event_prev_hashes := array_fill(NULL::text, ARRAY[events_count]);
    event_hashes := array_fill(NULL::text, ARRAY[events_count]);
    FOR position IN 1..events_count LOOP
        CONTINUE WHEN out_replayed[position];
        head_sequence := head_sequence + 1;
        out_sequences[position] := head_sequence;
        event_prev_hashes[position] := head_hash;
        head_hash := ledger_event_hash(head_hash, head_sequence, event_hash_tails[position]);
        event_hashes[position] := head_hash;
    END LOOP;

    out_entry_ids := array_fill(0::bigint, ARRAY[entries_count]);
    FOR position IN 1..entries_count LOOP
        IF NOT out_replayed[entry_events[position]] THEN
            fresh_entries := fresh_entries + 1;
        END IF;
    END LOOP;
    IF fresh_entries > 0 THEN
        next_entry_id := setval(pg_get_serial_sequence('ledger_entry', 'id'),
                                nextval(pg_get_serial_sequence('ledger_entry', 'id'))
                                + fresh_entries - 1) - fresh_entries;
        FOR position IN 1..entries_count LOOP
            IF NOT out_replayed[entry_events[position]] THEN
                next_entry_id := next_entry_id + 1;
                out_entry_ids[position] := next_entry_id;
            END IF;
        END LOOP;
    END IF;

    INSERT INTO ledger_event (sequence, type, payload, idempotency_key, input_hash, prev_hash,
                              hash, occurred_at, recorded_at, actor)
    SELECT out_sequences[e.position], e.type, e.payload::jsonb, e.key, e.input_hash,
           event_prev_hashes[e.position], event_hashes[e.position], e.occurred_at,
           ledger_append.recorded_at, ledger_append.actor
      FROM unnest(event_types, event_payloads, event_keys, event_input_hashes,
                  event_occurred_at) WITH ORDINALITY
           AS e(type, payload, key, input_hash, occurred_at, position)
     WHERE NOT out_replayed[e.position];

    IF fresh_entries > 0 THEN
        INSERT INTO ledger_entry (id, event_sequence, book_id, memo, reverses_id, recorded_at)
        SELECT out_entry_ids[en.position], out_sequences[en.event_position], en.book,
               en.memo, en.reverses, ledger_append.recorded_at
          FROM unnest(entry_events, entry_books, entry_memos, entry_reverses) WITH ORDINALITY
               AS en(event_position, book, memo, reverses, position)
         WHERE NOT out_replayed[en.event_position];

        INSERT INTO ledger_posting (entry_id, account_id, asset_id, side, phase, amount,
                                    sequence)
        SELECT out_entry_ids[p.entry_position], p.account, p.asset, p.side, p.phase,
               p.amount, out_sequences[entry_events[p.entry_position]]
          FROM unnest(posting_entries, posting_accounts, posting_assets, posting_sides,
                      posting_phases, posting_amounts)
               AS p(entry_position, account, asset, side, phase, amount)
         WHERE NOT out_replayed[entry_events[p.entry_position]];
    END IF;
    out_outcome := 'appended';
END;
$$;

DROP FUNCTION ledger_append_one;
