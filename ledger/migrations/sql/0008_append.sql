-- THE append: any number of events and their entries in ONE statement (ledger.journal
-- calls it for every append, one event or a hundred thousand). It replaces 0007's
-- one-event function and the Python paths that did the same in several round trips.
--
-- In order, as one step of the caller's transaction:
--   1. accounts Python has not cached yet (`accounts_to_read`) are read and returned
--      (flattened id, book, asset triples in out_accounts); if a posting names an account
--      that does not exist or is in another book or asset, nothing is written and the
--      outcome is 'accounts' (Python names the account; the posting trigger would refuse
--      it too, but by aborting the whole transaction);
--   2. the chain lock (a transaction-level advisory lock, ledger.locks.CHAIN_LOCK_KEY);
--   3. idempotency: if any key was recorded before, nothing is written. Recorded with
--      other input: outcome 'conflict', out_conflict is that event's position (1-based)
--      and out_recorded_sequences[1] its sequence. All with the same input: outcome
--      'recorded', with their positions and sequences; Python answers those as replays
--      and calls again with the others, under the lock it now holds, so this path
--      (a retry, a batch replayed after a crash) costs one more statement and the usual
--      one stays free of any bookkeeping for replays;
--   4. the chain's head, then each event's hash. Python sends the hashed text after the
--      sequence (ledger.canonical.chain_hash_tail); the chain's part is
--          hash = sha256(prev_hash || '\n' || sequence || '\n' || tail)
--      defined by ledger_event_hash below (ledger_verify recomputes every hash with it);
--   5. entry ids as ONE block of the sequence (setval under the chain lock: every writer
--      of entries holds it): the events take sequences head + 1, head + 2, ..., and the
--      entries ids out_first_entry_id, + 1, ..., in the order given;
--   6. three INSERT ... SELECT FROM unnest(...): events, entries, postings. The tables'
--      triggers project balances and check every invariant once per statement, as for
--      any other insert. With `rows_inline` false (a batch of many events, always inside
--      the caller's transaction), the function stops before the inserts and returns the
--      head's hash and every event's hash in out_hashes: Python then streams the rows in
--      with COPY, which overlaps its own work with the server's and spares PostgreSQL
--      the unnesting of big arrays (a third of a big batch's time). Steps 1 to 5, the
--      append's rules, are the same either way, and the lock is held to commit.
--
-- Events, entries and postings come as parallel arrays (columns); an entry names its
-- event, and a posting its entry and event, by 1-based position. Within one call the
-- keys are distinct (Python collapses repeats first). Each statement of a VOLATILE
-- PL/pgSQL function takes a new snapshot, so the head and the keys are read after the
-- lock is held. Columns are read side by side by unnest, never by subscript per row (a
-- text array's elements have no fixed width: each subscript would walk it from its
-- start), so the work stays linear in the batch's size.

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
    entry_events bigint[],
    entry_books bigint[],
    entry_memos text[],
    entry_reverses bigint[],
    posting_events bigint[],
    posting_entries bigint[],
    posting_accounts bigint[],
    posting_assets bigint[],
    posting_sides text[],
    posting_phases text[],
    posting_amounts bigint[],
    accounts_to_read bigint[],
    rows_inline boolean,
    OUT out_outcome text,
    OUT out_first_sequence bigint,
    OUT out_first_entry_id bigint,
    OUT out_recorded_positions int[],
    OUT out_recorded_sequences bigint[],
    OUT out_conflict int,
    OUT out_accounts bigint[],
    OUT out_head_hash text,
    OUT out_hashes text[])
LANGUAGE plpgsql AS $$
DECLARE
    events_count int := cardinality(event_keys);
    entries_count int := cardinality(entry_books);
    recorded_same boolean[];
    head_sequence bigint;
    head_hash text;
    event_prev_hashes text[] := '{}';
    event_hashes text[] := '{}';
    position int;
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

    IF EXISTS (SELECT 1 FROM ledger_event e WHERE e.idempotency_key = ANY(event_keys)) THEN
        SELECT array_agg(k.position ORDER BY k.position),
               array_agg(e.sequence ORDER BY k.position),
               array_agg(e.input_hash = k.input_hash ORDER BY k.position)
          INTO out_recorded_positions, out_recorded_sequences, recorded_same
          FROM ledger_event e
          JOIN unnest(event_keys, event_input_hashes) WITH ORDINALITY
               AS k(key, input_hash, position)
            ON k.key = e.idempotency_key
         WHERE e.idempotency_key = ANY(event_keys);
        out_outcome := 'recorded';
        FOR position IN 1..cardinality(recorded_same) LOOP
            IF NOT recorded_same[position] THEN
                out_outcome := 'conflict';
                out_conflict := out_recorded_positions[position];
                out_recorded_sequences := ARRAY[out_recorded_sequences[position]];
                EXIT;
            END IF;
        END LOOP;
        RETURN;
    END IF;

    SELECT e.sequence, e.hash INTO head_sequence, head_hash
      FROM ledger_event e ORDER BY e.sequence DESC LIMIT 1;
    IF NOT FOUND THEN
        head_sequence := 0;
        head_hash := genesis_hash;
    END IF;
    out_first_sequence := head_sequence + 1;
    out_head_hash := head_hash;
    FOR position IN 1..events_count LOOP
        event_prev_hashes[position] := head_hash;
        -- ledger_event_hash(head_hash, sequence, tail), written out: a call of the SQL
        -- function costs more than the hash itself. ledger_verify recomputes every
        -- stored hash with the function, so the two cannot differ unseen.
        head_hash := encode(sha256(convert_to(
            head_hash || E'\n' || (head_sequence + position) || E'\n'
            || event_hash_tails[position], 'UTF8')), 'hex');
        event_hashes[position] := head_hash;
    END LOOP;

    IF entries_count > 0 THEN
        out_first_entry_id := setval('ledger_entry_id_seq',
                                     nextval('ledger_entry_id_seq') + entries_count - 1)
                              - entries_count + 1;
    END IF;

    out_outcome := 'appended';
    IF NOT rows_inline THEN
        out_hashes := event_hashes;
        RETURN;
    END IF;

    INSERT INTO ledger_event (sequence, type, payload, idempotency_key, input_hash, prev_hash,
                              hash, occurred_at, recorded_at, actor)
    SELECT head_sequence + e.position, e.type, e.payload::jsonb, e.key, e.input_hash,
           e.prev_hash, e.hash, e.occurred_at, ledger_append.recorded_at, ledger_append.actor
      FROM unnest(event_types, event_payloads, event_keys, event_input_hashes,
                  event_prev_hashes, event_hashes, event_occurred_at) WITH ORDINALITY
           AS e(type, payload, key, input_hash, prev_hash, hash, occurred_at, position);

    IF entries_count > 0 THEN
        INSERT INTO ledger_entry (id, event_sequence, book_id, memo, reverses_id, recorded_at)
        SELECT out_first_entry_id + en.position - 1, head_sequence + en.event_position,
               en.book, en.memo, en.reverses, ledger_append.recorded_at
          FROM unnest(entry_events, entry_books, entry_memos, entry_reverses) WITH ORDINALITY
               AS en(event_position, book, memo, reverses, position);

        INSERT INTO ledger_posting (entry_id, account_id, asset_id, side, phase, amount,
                                    sequence)
        SELECT out_first_entry_id + p.entry_position - 1, p.account, p.asset, p.side,
               p.phase, p.amount, head_sequence + p.event_position
          FROM unnest(posting_entries, posting_events, posting_accounts, posting_assets,
                      posting_sides, posting_phases, posting_amounts)
               AS p(entry_position, event_position, account, asset, side, phase, amount);
    END IF;
END;
$$;

DROP FUNCTION ledger_append_one;
