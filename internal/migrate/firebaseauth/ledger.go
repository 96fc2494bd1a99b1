package firebaseauth

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Outcomes recorded in the ledger.
const (
	OutcomeInFlight = "in_flight" // sent to Kratos, answer not recorded yet
	OutcomeImported = "imported"
	OutcomeExisting = "existing" // Kratos had it already (409): an identity this migration made, matched by firebase_uid
	OutcomeRejected = "rejected"
	OutcomeFailed   = "failed"
)

// Ledger records, per Firebase project and uid, the Kratos identity and the outcome. Rows are
// written before a batch goes to Kratos (in_flight) and after it answers, so a run killed at
// any moment leaves enough behind for the next one to lose and duplicate nothing.
type Ledger struct {
	Pool    *pgxpool.Pool
	Project string
}

const ledgerDDL = `
CREATE SCHEMA IF NOT EXISTS resimate_migration;
CREATE TABLE IF NOT EXISTS resimate_migration.firebase_auth_ledger (
	project     text NOT NULL,
	uid         text NOT NULL,
	identity_id uuid,
	outcome     text NOT NULL,
	reason      text,
	updated_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (project, uid)
);`

// Init creates the ledger's schema and table when missing.
func (l *Ledger) Init(ctx context.Context) error {
	if _, err := l.Pool.Exec(ctx, ledgerDDL); err != nil {
		return fmt.Errorf("creating the migration ledger: %w", err)
	}
	return nil
}

// Entry is one ledger row.
type Entry struct {
	UID        string
	IdentityID string
	Outcome    string
	Reason     string
}

// Load returns every row of the project by uid.
func (l *Ledger) Load(ctx context.Context) (map[string]Entry, error) {
	rows, err := l.Pool.Query(ctx, `SELECT uid, coalesce(identity_id::text, ''), outcome, coalesce(reason, '')
		FROM resimate_migration.firebase_auth_ledger WHERE project = $1`, l.Project)
	if err != nil {
		return nil, fmt.Errorf("reading the migration ledger: %w", err)
	}
	out := map[string]Entry{}
	for rows.Next() {
		var e Entry
		if err := rows.Scan(&e.UID, &e.IdentityID, &e.Outcome, &e.Reason); err != nil {
			return nil, err
		}
		out[e.UID] = e
	}
	return out, rows.Err()
}

// Record upserts entries in one statement.
func (l *Ledger) Record(ctx context.Context, entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	uids := make([]string, len(entries))
	ids := make([]*string, len(entries))
	outcomes := make([]string, len(entries))
	reasons := make([]string, len(entries))
	for i, e := range entries {
		uids[i], outcomes[i], reasons[i] = e.UID, e.Outcome, e.Reason
		if e.IdentityID != "" {
			id := e.IdentityID
			ids[i] = &id
		}
	}
	_, err := l.Pool.Exec(ctx, `
		INSERT INTO resimate_migration.firebase_auth_ledger (project, uid, identity_id, outcome, reason, updated_at)
		SELECT $1, u, i::uuid, o, nullif(r, ''), now() FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS t(u, i, o, r)
		ON CONFLICT (project, uid) DO UPDATE SET identity_id = coalesce(EXCLUDED.identity_id, firebase_auth_ledger.identity_id),
			outcome = EXCLUDED.outcome, reason = EXCLUDED.reason, updated_at = now()`,
		l.Project, uids, ids, outcomes, reasons)
	if err != nil {
		return fmt.Errorf("writing the migration ledger: %w", err)
	}
	return nil
}

// Forget removes rows (in-flight users that recovery found never reached Kratos).
func (l *Ledger) Forget(ctx context.Context, uids []string) error {
	_, err := l.Pool.Exec(ctx, `DELETE FROM resimate_migration.firebase_auth_ledger WHERE project = $1 AND uid = ANY($2)`, l.Project, uids)
	return err
}
