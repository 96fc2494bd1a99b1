package firestore

import (
	"context"
	"crypto/sha256"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Loader writes documents into the tenant schema's generic table with COPY into a staging
// table and an upsert, batch by batch; the same transaction moves the source's checkpoint, so a
// rerun (or a resume after a kill) goes on where the last committed batch ended, and the upsert
// makes a replayed batch harmless.
type Loader struct {
	Pool      *pgxpool.Pool
	Schema    string // tenant_<name>
	SourceKey string // names the source in the checkpoint table
	BatchSize int
	// Progress, when set, is called after every committed batch with the documents done so far.
	Progress func(done int64)
}

var identifier = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// TenantSchema returns the schema of a tenant, refusing names that are not plain identifiers.
func TenantSchema(tenant string) (string, error) {
	s := "tenant_" + tenant
	if !identifier.MatchString(s) {
		return "", fmt.Errorf("tenant %q: use lower-case letters, digits and _", tenant)
	}
	return s, nil
}

// DDL is the generic table every unmapped document lands in, and the checkpoints.
func (l *Loader) DDL() string {
	return fmt.Sprintf(`CREATE SCHEMA IF NOT EXISTS %[1]s;
CREATE TABLE IF NOT EXISTS %[1]s.firestore_documents (
	path          text PRIMARY KEY,
	collection    text NOT NULL,
	collection_id text NOT NULL,
	parent_path   text,
	id            text NOT NULL,
	data          jsonb NOT NULL,
	checksum      bytea NOT NULL
);
CREATE INDEX IF NOT EXISTS firestore_documents_collection_id ON %[1]s.firestore_documents (collection_id);
CREATE SCHEMA IF NOT EXISTS resimate_migration;
CREATE TABLE IF NOT EXISTS resimate_migration.firestore_checkpoints (
	target     text NOT NULL,
	source     text NOT NULL,
	documents  bigint NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (target, source)
);`, l.Schema)
}

// Checksum is the SHA-256 of a document's canonical encoding.
func Checksum(data []byte) []byte {
	s := sha256.Sum256(data)
	return s[:]
}

// Stats counts a load.
type Stats struct {
	Read    int64 `json:"read"`
	Skipped int64 `json:"skippedByCheckpoint"`
	Written int64 `json:"written"`
}

// Load streams src into the table.
func (l *Loader) Load(ctx context.Context, src Source) (Stats, error) {
	var st Stats
	conn, err := l.Pool.Acquire(ctx)
	if err != nil {
		return st, err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, l.DDL()); err != nil {
		return st, fmt.Errorf("creating the target tables: %w", err)
	}
	if _, err := conn.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS firestore_staging (LIKE `+l.Schema+`.firestore_documents)`); err != nil {
		return st, err
	}
	var done int64
	err = conn.QueryRow(ctx, `SELECT coalesce((SELECT documents FROM resimate_migration.firestore_checkpoints WHERE target = $1 AND source = $2), 0)`,
		l.Schema, l.SourceKey).Scan(&done)
	if err != nil {
		return st, err
	}
	size := max(l.BatchSize, 1)
	rows := make([][]any, 0, size)
	flush := func() error {
		if len(rows) == 0 {
			return nil
		}
		if err := l.commit(ctx, conn.Conn(), rows, done+int64(len(rows))); err != nil {
			return err
		}
		done += int64(len(rows))
		st.Written += int64(len(rows))
		rows = rows[:0]
		if l.Progress != nil {
			l.Progress(done)
		}
		return nil
	}
	skip := done
	err = src.Documents(ctx, func(d Document) error {
		st.Read++
		if st.Read <= skip {
			st.Skipped++
			return nil
		}
		data, err := EncodeFields(d.Fields)
		if err != nil {
			return fmt.Errorf("%s: %w", d.Path, err)
		}
		var parent any
		if p := d.Parent(); p != "" {
			parent = p
		}
		rows = append(rows, []any{d.Path, d.Collection(), d.CollectionID(), parent, d.ID(), string(data), Checksum(data)})
		if len(rows) == size {
			return flush()
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	return st, flush()
}

// commit copies one batch in and moves the checkpoint, atomically.
func (l *Loader) commit(ctx context.Context, conn *pgx.Conn, rows [][]any, checkpoint int64) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it is a no-op
	if _, err := tx.Exec(ctx, `TRUNCATE firestore_staging`); err != nil {
		return err
	}
	cols := []string{"path", "collection", "collection_id", "parent_path", "id", "data", "checksum"}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"firestore_staging"}, cols, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("copying documents: %w", err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO `+l.Schema+`.firestore_documents SELECT * FROM firestore_staging
		ON CONFLICT (path) DO UPDATE SET collection = EXCLUDED.collection, collection_id = EXCLUDED.collection_id,
		parent_path = EXCLUDED.parent_path, id = EXCLUDED.id, data = EXCLUDED.data, checksum = EXCLUDED.checksum`)
	if err != nil {
		return fmt.Errorf("writing documents: %w", err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO resimate_migration.firestore_checkpoints (target, source, documents) VALUES ($1, $2, $3)
		ON CONFLICT (target, source) DO UPDATE SET documents = EXCLUDED.documents, updated_at = now()`, l.Schema, l.SourceKey, checkpoint)
	if err != nil {
		return err
	}
	return tx.Commit(ctx)
}
