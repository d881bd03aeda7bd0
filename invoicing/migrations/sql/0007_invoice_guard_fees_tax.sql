-- The invoice guard of 0004, extended: the part of an inclusive tax carved out of
-- revenue:fees (fees_tax) is part of a finalized invoice's fixed content, as booked.
CREATE OR REPLACE FUNCTION invoicing_invoice_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.state <> 'draft' THEN
            RAISE EXCEPTION 'invoicing: invoice % is %, it cannot be deleted', OLD.id, OLD.state
                USING ERRCODE = 'IV001';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.state = 'draft' THEN
        RETURN NEW;
    END IF;
    IF (NEW.public_id, NEW.seller_book_id, NEW.buyer_customer_id, NEW.buyer_book_id,
        NEW.buyer_key, NEW.currency_id, NEW.period_start, NEW.period_end, NEW.number,
        NEW.number_text, NEW.issued_at, NEW.due_at, NEW.usage_watermark, NEW.after_period_end,
        NEW.after_watermark, NEW.after_invoice_id, NEW.exact_subtotal, NEW.subtotal, NEW.tax,
        NEW.total, NEW.fees, NEW.fees_tax, NEW.tax_region, NEW.tax_rate_bps, NEW.tax_inclusive, NEW.tax_kind,
        NEW.legal_note, NEW.ledger_event_sequence, NEW.created_at, NEW.created_by)
       IS DISTINCT FROM
       (OLD.public_id, OLD.seller_book_id, OLD.buyer_customer_id, OLD.buyer_book_id,
        OLD.buyer_key, OLD.currency_id, OLD.period_start, OLD.period_end, OLD.number,
        OLD.number_text, OLD.issued_at, OLD.due_at, OLD.usage_watermark, OLD.after_period_end,
        OLD.after_watermark, OLD.after_invoice_id, OLD.exact_subtotal, OLD.subtotal, OLD.tax,
        OLD.total, OLD.fees, OLD.fees_tax, OLD.tax_region, OLD.tax_rate_bps, OLD.tax_inclusive, OLD.tax_kind,
        OLD.legal_note, OLD.ledger_event_sequence, OLD.created_at, OLD.created_by)
    THEN
        RAISE EXCEPTION 'invoicing: invoice % is %: its content never changes', OLD.id, OLD.state
            USING ERRCODE = 'IV001', HINT = 'Correct it with a credit note.';
    END IF;
    IF NOT ((OLD.state = NEW.state)
            OR (OLD.state = 'finalized' AND NEW.state IN ('paid', 'void'))) THEN
        RAISE EXCEPTION 'invoicing: invoice % cannot go from % to %', OLD.id, OLD.state, NEW.state
            USING ERRCODE = 'IV001';
    END IF;
    IF OLD.void_event_sequence IS NOT NULL
       AND NEW.void_event_sequence IS DISTINCT FROM OLD.void_event_sequence THEN
        RAISE EXCEPTION 'invoicing: invoice % was voided once', OLD.id USING ERRCODE = 'IV001';
    END IF;
    IF OLD.overdue_at IS NOT NULL AND NEW.overdue_at IS DISTINCT FROM OLD.overdue_at THEN
        RAISE EXCEPTION 'invoicing: invoice % was marked overdue once', OLD.id
            USING ERRCODE = 'IV001';
    END IF;
    RETURN NEW;
END;
$$;
