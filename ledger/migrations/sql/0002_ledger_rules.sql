-- The ledger's rules, enforced by PostgreSQL whatever path writes (ORM, COPY, raw SQL).
-- Error codes: LD001 append-only, LD002 unbalanced entry, LD003 posting/account mismatch.
-- Overdrafts are refused by the CHECK constraints on ledger_balance (SQLSTATE 23514).

-- 1. Journal data is append-only. TRUNCATE is refused too unless the session sets
--    ledger.allow_truncate=on (only the test settings do, so that test runs can flush).
CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND current_setting('ledger.allow_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'ledger: % on % is refused: journal data is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'LD001',
              HINT = 'Correct a mistake with a reversing entry.';
END;
$$;

CREATE TRIGGER ledger_event_append_only BEFORE UPDATE OR DELETE ON ledger_event
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_entry_append_only BEFORE UPDATE OR DELETE ON ledger_entry
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_posting_append_only BEFORE UPDATE OR DELETE ON ledger_posting
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_hold_append_only BEFORE UPDATE OR DELETE ON ledger_hold
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_holdresolution_append_only BEFORE UPDATE OR DELETE ON ledger_holdresolution
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

CREATE TRIGGER ledger_event_no_truncate BEFORE TRUNCATE ON ledger_event
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_entry_no_truncate BEFORE TRUNCATE ON ledger_entry
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_posting_no_truncate BEFORE TRUNCATE ON ledger_posting
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_hold_no_truncate BEFORE TRUNCATE ON ledger_hold
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_holdresolution_no_truncate BEFORE TRUNCATE ON ledger_holdresolution
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

-- 2. Every account has a balance row carrying its overdraft flags, so that the CHECK
--    constraints on ledger_balance can enforce them.
CREATE FUNCTION ledger_account_sync_balance() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO ledger_balance (account_id, debits_posted, credits_posted, debits_pending,
                                    credits_pending, last_sequence,
                                    debits_must_not_exceed_credits, credits_must_not_exceed_debits)
        VALUES (NEW.id, 0, 0, 0, 0, 0,
                NEW.debits_must_not_exceed_credits, NEW.credits_must_not_exceed_debits);
    ELSIF NEW.debits_must_not_exceed_credits IS DISTINCT FROM OLD.debits_must_not_exceed_credits
       OR NEW.credits_must_not_exceed_debits IS DISTINCT FROM OLD.credits_must_not_exceed_debits THEN
        -- Setting a flag on an account that already breaks it fails the CHECK: intended.
        UPDATE ledger_balance
           SET debits_must_not_exceed_credits = NEW.debits_must_not_exceed_credits,
               credits_must_not_exceed_debits = NEW.credits_must_not_exceed_debits
         WHERE account_id = NEW.id;
    END IF;
    IF TG_OP = 'UPDATE' AND (NEW.asset_id <> OLD.asset_id OR NEW.book_id <> OLD.book_id) THEN
        RAISE EXCEPTION 'ledger: account % cannot move to another book or asset', NEW.id
            USING ERRCODE = 'LD003';
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER ledger_account_balance AFTER INSERT OR UPDATE ON ledger_account
    FOR EACH ROW EXECUTE FUNCTION ledger_account_sync_balance();

-- 3. Postings move balances in the same statement (one aggregated update per account),
--    and entries that do
--    not balance within the statement are queued for the deferred check at commit.
-- No foreign key: the queue is empty outside a transaction, and a key would stop
-- test runs from truncating ledger_entry.
CREATE TABLE ledger_entry_balance_check (entry_id bigint NOT NULL);

CREATE FUNCTION ledger_posting_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT n.id, n.account_id, n.asset_id AS posting_asset, a.asset_id AS account_asset
      INTO bad
      FROM new_postings n JOIN ledger_account a ON a.id = n.account_id
     WHERE a.asset_id <> n.asset_id
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger: posting % is in asset % but account % holds asset %',
            bad.id, bad.posting_asset, bad.account_id, bad.account_asset
            USING ERRCODE = 'LD003';
    END IF;

    -- Lock the balance rows in account order first: concurrent writers then queue in
    -- one order and cannot deadlock, whatever order their postings came in.
    PERFORM 1
       FROM ledger_balance
      WHERE account_id IN (SELECT account_id FROM new_postings)
      ORDER BY account_id
        FOR UPDATE;

    UPDATE ledger_balance b
       SET debits_posted = b.debits_posted + s.dp,
           credits_posted = b.credits_posted + s.cp,
           debits_pending = b.debits_pending + s.dh,
           credits_pending = b.credits_pending + s.ch,
           last_sequence = greatest(b.last_sequence, s.last_sequence)
      FROM (SELECT account_id,
                   coalesce(sum(amount) FILTER (WHERE side = 'D' AND phase = 'P'), 0) AS dp,
                   coalesce(sum(amount) FILTER (WHERE side = 'C' AND phase = 'P'), 0) AS cp,
                   coalesce(sum(CASE phase WHEN 'H' THEN amount WHEN 'R' THEN -amount END)
                            FILTER (WHERE side = 'D' AND phase <> 'P'), 0) AS dh,
                   coalesce(sum(CASE phase WHEN 'H' THEN amount WHEN 'R' THEN -amount END)
                            FILTER (WHERE side = 'C' AND phase <> 'P'), 0) AS ch,
                   max(sequence) AS last_sequence
              FROM new_postings
             GROUP BY account_id) s
     WHERE b.account_id = s.account_id;

    -- Balance is additive: an entry whose new postings balance stays balanced, since
    -- every committed entry balances and an in-progress one is already queued.
    INSERT INTO ledger_entry_balance_check (entry_id)
    SELECT DISTINCT entry_id
      FROM (SELECT entry_id
              FROM new_postings
             GROUP BY entry_id, asset_id, phase
            HAVING sum(CASE side WHEN 'D' THEN amount ELSE -amount END) <> 0) unbalanced;
    RETURN NULL;
END;
$$;

CREATE TRIGGER ledger_posting_balances AFTER INSERT ON ledger_posting
    REFERENCING NEW TABLE AS new_postings
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_posting_after_insert();

-- 4. The deferred check (hordak's check_leg): at commit, each queued entry must balance
--    per asset and per phase over all of its postings.
CREATE FUNCTION ledger_check_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT p.asset_id, p.phase,
           sum(CASE p.side WHEN 'D' THEN p.amount ELSE 0 END) AS debits,
           sum(CASE p.side WHEN 'C' THEN p.amount ELSE 0 END) AS credits
      INTO bad
      FROM ledger_posting p
     WHERE p.entry_id = NEW.entry_id
     GROUP BY p.asset_id, p.phase
    HAVING sum(CASE p.side WHEN 'D' THEN p.amount ELSE -p.amount END) <> 0
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger: entry % does not balance in asset %: debits % <> credits %',
            NEW.entry_id, bad.asset_id, bad.debits, bad.credits
            USING ERRCODE = 'LD002';
    END IF;
    DELETE FROM ledger_entry_balance_check WHERE entry_id = NEW.entry_id;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER ledger_entry_balanced AFTER INSERT ON ledger_entry_balance_check
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_check_entry_balanced();
