-- The ledger's rules, enforced by PostgreSQL whatever path writes (ORM, COPY, raw SQL).
-- Error codes: LD001 append-only, LD002 unbalanced entry, LD003 broken reference or a
-- posting whose account, entry and asset disagree.
-- Overdrafts are refused by the CHECK constraints on ledger_balance (SQLSTATE 23514).

-- 1. Journal data is append-only. TRUNCATE is refused too unless the session sets
--    ledger.allow_truncate=on (only the test settings do, so that test runs can flush).
CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND current_setting('ledger.allow_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'ledger: % on % is refused: ledger data is append-only', TG_OP, TG_TABLE_NAME
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
    -- Statements run through EXECUTE are planned for this call's number of rows: a plan
    -- cached for a 10,000-row batch would scan every balance for a 2-row entry.

    -- The references Django's per-row foreign keys would check, once per statement,
    -- plus what no foreign key can say: account, entry and posting agree on book and asset.
    EXECUTE '
        SELECT n.id, n.entry_id, n.account_id, n.asset_id AS posting_asset,
               a.id IS NULL AS no_account, e.id IS NULL AS no_entry,
               a.asset_id AS account_asset, a.book_id AS account_book, e.book_id AS entry_book
          FROM new_postings n
          LEFT JOIN ledger_account a ON a.id = n.account_id
          LEFT JOIN ledger_entry e ON e.id = n.entry_id
         WHERE a.id IS NULL OR e.id IS NULL
            OR a.asset_id <> n.asset_id OR a.book_id <> e.book_id
         LIMIT 1' INTO bad;
    IF bad.id IS NOT NULL THEN
        IF bad.no_account THEN
            RAISE EXCEPTION 'ledger: posting % names account %, which does not exist',
                bad.id, bad.account_id USING ERRCODE = 'LD003';
        ELSIF bad.no_entry THEN
            RAISE EXCEPTION 'ledger: posting % names entry %, which does not exist',
                bad.id, bad.entry_id USING ERRCODE = 'LD003';
        ELSIF bad.account_asset <> bad.posting_asset THEN
            RAISE EXCEPTION 'ledger: posting % is in asset % but account % holds asset %',
                bad.id, bad.posting_asset, bad.account_id, bad.account_asset
                USING ERRCODE = 'LD003';
        ELSE
            RAISE EXCEPTION 'ledger: posting % puts account % of book % into an entry of book %',
                bad.id, bad.account_id, bad.account_book, bad.entry_book
                USING ERRCODE = 'LD003';
        END IF;
    END IF;

    -- Lock the balance rows in account order first: concurrent writers then queue in
    -- one order and cannot deadlock, whatever order their postings came in.
    EXECUTE '
        SELECT 1 FROM ledger_balance
         WHERE account_id IN (SELECT account_id FROM new_postings)
         ORDER BY account_id
           FOR UPDATE';

    EXECUTE '
        UPDATE ledger_balance b
           SET debits_posted = b.debits_posted + s.dp,
               credits_posted = b.credits_posted + s.cp,
               debits_pending = b.debits_pending + s.dh,
               credits_pending = b.credits_pending + s.ch,
               last_sequence = greatest(b.last_sequence, s.last_sequence)
          FROM (SELECT account_id,
                       coalesce(sum(amount) FILTER (WHERE side = ''D'' AND phase = ''P''), 0) AS dp,
                       coalesce(sum(amount) FILTER (WHERE side = ''C'' AND phase = ''P''), 0) AS cp,
                       coalesce(sum(CASE phase WHEN ''H'' THEN amount WHEN ''R'' THEN -amount END)
                                FILTER (WHERE side = ''D'' AND phase <> ''P''), 0) AS dh,
                       coalesce(sum(CASE phase WHEN ''H'' THEN amount WHEN ''R'' THEN -amount END)
                                FILTER (WHERE side = ''C'' AND phase <> ''P''), 0) AS ch,
                       max(sequence) AS last_sequence
                  FROM new_postings
                 GROUP BY account_id) s
         WHERE b.account_id = s.account_id';

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

-- Entries: the references their foreign keys would check, once per statement.
CREATE FUNCTION ledger_entry_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    EXECUTE '
        SELECT n.id, n.event_sequence, n.book_id, ev.sequence IS NULL AS no_event
          FROM new_entries n
          LEFT JOIN ledger_event ev ON ev.sequence = n.event_sequence
          LEFT JOIN ledger_book b ON b.id = n.book_id
         WHERE ev.sequence IS NULL OR b.id IS NULL
         LIMIT 1' INTO bad;
    IF bad.id IS NOT NULL THEN
        IF bad.no_event THEN
            RAISE EXCEPTION 'ledger: entry % names event #%, which does not exist',
                bad.id, bad.event_sequence USING ERRCODE = 'LD003';
        END IF;
        RAISE EXCEPTION 'ledger: entry % names book %, which does not exist', bad.id, bad.book_id
            USING ERRCODE = 'LD003';
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER ledger_entry_references AFTER INSERT ON ledger_entry
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_entry_after_insert();

-- Books, assets, accounts and balances are referenced by journal rows without foreign
-- keys (see above), so they can never be deleted.
CREATE TRIGGER ledger_book_no_delete BEFORE DELETE ON ledger_book
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_asset_no_delete BEFORE DELETE ON ledger_asset
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_account_no_delete BEFORE DELETE ON ledger_account
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_balance_no_delete BEFORE DELETE ON ledger_balance
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

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
