-- One event and its entries appended in ONE round trip (ledger.journal's single-event
-- path). It does what the general path of ledger/journal.py does, in the same order:
-- take the chain lock, look the idempotency key up, read the chain's head, write the
-- event, its entries and their postings. The tables' triggers check and project
-- everything exactly as for any other insert.
--
-- Python prepares everything that does not depend on the chain's head (canonical
-- payload, input hash, the entries from the posting rules, and the hashed text after
-- the sequence: ledger.canonical.chain_hash_tail); this function only adds the head's
-- hash and the next sequence in front, as ledger.canonical.chain_hash_from_tail does:
--     sha256(prev_hash || '\n' || sequence || '\n' || tail)
-- ledger_verify recomputes every hash in Python, so the two cannot drift apart unseen.
--
-- Entries come as parallel arrays (book, memo, reversed entry), postings too, each
-- posting naming its entry by 1-based position. Outcome: 'appended'; 'replayed' (the key
-- was recorded with the same input: its sequence and entry ids); 'conflict' (recorded
-- with other input: its sequence); 'accounts' (nothing written: a posting names an
-- account that does not exist or is in another book or asset; Python names it).
-- `accounts_to_read` are the accounts Python has not cached yet: their id, book and
-- asset come back flattened in out_accounts, so that Python caches them. Each statement
-- of a VOLATILE PL/pgSQL function takes a new snapshot, so the head is read after the
-- lock is held.
CREATE FUNCTION ledger_append_one(
    chain_lock_key bigint, genesis_hash text,
    event_type text, payload text, key text, input_hash_hex text,
    occurred_at timestamptz, recorded_at timestamptz, actor text, hash_tail text,
    entry_books bigint[], entry_memos text[], entry_reverses bigint[],
    posting_entries int[], posting_accounts bigint[], posting_assets bigint[],
    posting_sides text[], posting_phases text[], posting_amounts bigint[],
    accounts_to_read bigint[],
    OUT out_sequence bigint, OUT out_entry_ids bigint[], OUT out_outcome text,
    OUT out_accounts bigint[])
LANGUAGE plpgsql AS $$
DECLARE
    head_hash text;
    recorded_input_hash text;
BEGIN
    IF cardinality(accounts_to_read) > 0 THEN
        SELECT array_agg(ARRAY[a.id, a.book_id, a.asset_id]) INTO out_accounts
          FROM ledger_account a WHERE a.id = ANY(accounts_to_read);
        -- The posting trigger would refuse such a posting too, but by aborting the
        -- transaction; this way the caller gets a precise error and nothing to undo.
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

    SELECT e.sequence, e.input_hash INTO out_sequence, recorded_input_hash
      FROM ledger_event e WHERE e.idempotency_key = key;
    IF FOUND THEN
        IF recorded_input_hash = input_hash_hex THEN
            out_outcome := 'replayed';
            SELECT coalesce(array_agg(en.id ORDER BY en.id), '{}') INTO out_entry_ids
              FROM ledger_entry en WHERE en.event_sequence = out_sequence;
        ELSE
            out_outcome := 'conflict';
        END IF;
        RETURN;
    END IF;

    SELECT e.sequence, e.hash INTO out_sequence, head_hash
      FROM ledger_event e ORDER BY e.sequence DESC LIMIT 1;
    IF NOT FOUND THEN
        out_sequence := 0;
        head_hash := genesis_hash;
    END IF;
    out_sequence := out_sequence + 1;

    INSERT INTO ledger_event (sequence, type, payload, idempotency_key, input_hash, prev_hash,
                              hash, occurred_at, recorded_at, actor)
    VALUES (out_sequence, event_type, payload::jsonb, key, input_hash_hex, head_hash,
            encode(sha256(convert_to(head_hash || E'\n' || out_sequence || E'\n' || hash_tail,
                                     'UTF8')), 'hex'),
            occurred_at, recorded_at, actor);

    SELECT array_agg(nextval('ledger_entry_id_seq')) INTO out_entry_ids
      FROM generate_series(1, cardinality(entry_books));
    INSERT INTO ledger_entry (id, event_sequence, book_id, memo, reverses_id, recorded_at)
    SELECT out_entry_ids[i], out_sequence, entry_books[i], entry_memos[i], entry_reverses[i],
           recorded_at
      FROM generate_subscripts(entry_books, 1) AS i;
    INSERT INTO ledger_posting (entry_id, account_id, asset_id, side, phase, amount, sequence)
    SELECT out_entry_ids[posting_entries[i]], posting_accounts[i], posting_assets[i],
           posting_sides[i], posting_phases[i], posting_amounts[i], out_sequence
      FROM generate_subscripts(posting_accounts, 1) AS i;
    out_outcome := 'appended';
END;
$$;
