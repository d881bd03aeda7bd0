-- Price versions are history: a price change is a new row with a later effective_from,
-- never an edit, so the price in force at any past moment can be found again.
-- Error code PR001. TRUNCATE is refused too unless the session sets
-- ledger.allow_truncate=on (only the test settings do, so that test runs can flush).
CREATE FUNCTION pricing_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND current_setting('ledger.allow_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'pricing: % on % is refused: price versions are append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'PR001',
              HINT = 'Publish a new version with a later effective_from.';
END;
$$;

CREATE TRIGGER pricing_catalogimport_append_only BEFORE UPDATE OR DELETE ON pricing_catalogimport
    FOR EACH ROW EXECUTE FUNCTION pricing_refuse_change();
CREATE TRIGGER pricing_upstreamprice_append_only BEFORE UPDATE OR DELETE ON pricing_upstreamprice
    FOR EACH ROW EXECUTE FUNCTION pricing_refuse_change();
CREATE TRIGGER pricing_retailpricebook_append_only BEFORE UPDATE OR DELETE ON pricing_retailpricebook
    FOR EACH ROW EXECUTE FUNCTION pricing_refuse_change();
CREATE TRIGGER pricing_retailpriceoverride_append_only
    BEFORE UPDATE OR DELETE ON pricing_retailpriceoverride
    FOR EACH ROW EXECUTE FUNCTION pricing_refuse_change();

CREATE TRIGGER pricing_catalogimport_no_truncate BEFORE TRUNCATE ON pricing_catalogimport
    FOR EACH STATEMENT EXECUTE FUNCTION pricing_refuse_change();
CREATE TRIGGER pricing_upstreamprice_no_truncate BEFORE TRUNCATE ON pricing_upstreamprice
    FOR EACH STATEMENT EXECUTE FUNCTION pricing_refuse_change();
CREATE TRIGGER pricing_retailpricebook_no_truncate BEFORE TRUNCATE ON pricing_retailpricebook
    FOR EACH STATEMENT EXECUTE FUNCTION pricing_refuse_change();
CREATE TRIGGER pricing_retailpriceoverride_no_truncate BEFORE TRUNCATE ON pricing_retailpriceoverride
    FOR EACH STATEMENT EXECUTE FUNCTION pricing_refuse_change();
