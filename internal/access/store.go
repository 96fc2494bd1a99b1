package access

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Store keeps reviews and revocations in the platform's PostgreSQL, in schema resimate_access:
// tables that refuse UPDATE, DELETE and TRUNCATE, so evidence is only ever added. The
// signatures and the hash chain show an alteration made by someone who lifts that guard.
type Store struct {
	Pool *pgxpool.Pool
}

const storeSchema = `
CREATE SCHEMA IF NOT EXISTS resimate_access;
CREATE TABLE IF NOT EXISTS resimate_access.reviews (
  id bigserial PRIMARY KEY,
  recorded_at timestamptz NOT NULL,
  reviewer text NOT NULL,
  report bytea NOT NULL,
  report_sha256 text NOT NULL,
  decisions jsonb NOT NULL,
  previous_sha256 text NOT NULL,
  public_key text NOT NULL,
  signature text NOT NULL
);
CREATE TABLE IF NOT EXISTS resimate_access.audit (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  actor text NOT NULL,
  action text NOT NULL,
  target text NOT NULL,
  plan text NOT NULL,
  result text NOT NULL
);
CREATE OR REPLACE FUNCTION resimate_access.append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'resimate_access.% is append-only', TG_TABLE_NAME;
END $$;
CREATE OR REPLACE TRIGGER reviews_append_only BEFORE UPDATE OR DELETE ON resimate_access.reviews
  FOR EACH ROW EXECUTE FUNCTION resimate_access.append_only();
CREATE OR REPLACE TRIGGER reviews_no_truncate BEFORE TRUNCATE ON resimate_access.reviews
  FOR EACH STATEMENT EXECUTE FUNCTION resimate_access.append_only();
CREATE OR REPLACE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON resimate_access.audit
  FOR EACH ROW EXECUTE FUNCTION resimate_access.append_only();
CREATE OR REPLACE TRIGGER audit_no_truncate BEFORE TRUNCATE ON resimate_access.audit
  FOR EACH STATEMENT EXECUTE FUNCTION resimate_access.append_only();
`

// Init creates the schema, tables and guards; it is safe to run each time.
func (s *Store) Init(ctx context.Context) error {
	// One session at a time: concurrent CREATE OR REPLACE of the same function conflicts. The
	// statements run as one implicit transaction, which releases the lock however it ends.
	_, err := s.Pool.Exec(ctx, "SELECT pg_advisory_xact_lock(7261);"+storeSchema)
	if err != nil {
		return fmt.Errorf("preparing the access records in PostgreSQL: %w", err)
	}
	return nil
}

// Add records a signed review, chained to the latest one. The table is locked while the
// chain's head is read, so two reviews recorded at once still form one chain.
func (s *Store) Add(ctx context.Context, r *Record) error {
	return pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "LOCK TABLE resimate_access.reviews IN SHARE ROW EXCLUSIVE MODE"); err != nil {
			return err
		}
		last, err := scanRecords(tx.Query(ctx, selectRecords+" ORDER BY id DESC LIMIT 1"))
		if err != nil {
			return err
		}
		r.Previous = ""
		if len(last) == 1 {
			r.Previous = last[0].Digest()
		}
		if err := r.sign(); err != nil {
			return err
		}
		decisions, _ := json.Marshal(r.Decisions)
		return tx.QueryRow(ctx, `INSERT INTO resimate_access.reviews (recorded_at, reviewer, report, report_sha256, decisions, previous_sha256, public_key, signature)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`, r.Time, r.Reviewer, r.Report, r.ReportSHA256, decisions, r.Previous, r.PublicKey, r.Signature).Scan(&r.ID)
	})
}

const selectRecords = "SELECT id, recorded_at, reviewer, report, report_sha256, decisions, previous_sha256, public_key, signature FROM resimate_access.reviews"

// List returns every review, oldest first.
func (s *Store) List(ctx context.Context) ([]Record, error) {
	return scanRecords(s.Pool.Query(ctx, selectRecords+" ORDER BY id"))
}

// ErrNoReview is returned when no review is recorded yet.
var ErrNoReview = errors.New("no access review is recorded yet: record one with 'resimatectl access review --record'")

// Get returns review id, or the latest with id 0.
func (s *Store) Get(ctx context.Context, id int64) (*Record, error) {
	q, args := selectRecords+" ORDER BY id DESC LIMIT 1", []any{}
	if id != 0 {
		q, args = selectRecords+" WHERE id = $1", []any{id}
	}
	list, err := scanRecords(s.Pool.Query(ctx, q, args...))
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		if id != 0 {
			return nil, fmt.Errorf("no access review %d is recorded: 'resimatectl access history' lists them", id)
		}
		return nil, ErrNoReview
	}
	return &list[0], nil
}

func scanRecords(rows pgx.Rows, err error) ([]Record, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Record, error) {
		var r Record
		var decisions []byte
		err := row.Scan(&r.ID, &r.Time, &r.Reviewer, &r.Report, &r.ReportSHA256, &decisions, &r.Previous, &r.PublicKey, &r.Signature)
		if err == nil {
			err = json.Unmarshal(decisions, &r.Decisions)
		}
		r.Time = r.Time.UTC()
		return r, err
	})
}

// AuditEntry is one revocation, as done (or refused).
type AuditEntry struct {
	Actor, Action, Target, Plan, Result string
}

// Audit appends an entry.
func (s *Store) Audit(ctx context.Context, e AuditEntry) error {
	_, err := s.Pool.Exec(ctx, "INSERT INTO resimate_access.audit (at, actor, action, target, plan, result) VALUES ($1, $2, $3, $4, $5, $6)",
		time.Now().UTC(), e.Actor, e.Action, e.Target, e.Plan, e.Result)
	if err != nil {
		return fmt.Errorf("writing the audit entry: %w", err)
	}
	return nil
}
