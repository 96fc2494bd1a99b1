package firestore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Loader writes documents into the tenant schema's tables (mapped ones and the generic one)
// with COPY into staging tables and an upsert, batch by batch; the same transaction moves the
// source's checkpoint, so a rerun (or a resume after a kill) goes on where the last committed
// batch ended, and the upsert makes a replayed batch harmless.
type Loader struct {
	Pool      *pgxpool.Pool
	Plan      *Plan
	SourceKey string // names the source in the checkpoint table
	BatchSize int
	// Progress, when set, is called after every committed batch with the documents done so far
	// and the collection group of the last one.
	Progress func(done int64, group string)

	source Source       // the one being loaded, read again to confirm a duplicate
	seed   maphash.Seed // of the path hashes in seen_paths
}

var identifier = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// TenantSchema returns the schema of a tenant, refusing names that are not plain identifiers.
func TenantSchema(tenant string) (string, error) {
	if tenant == "" {
		return "", fmt.Errorf("--tenant is empty: name the tenant whose schema (tenant_<name>) receives the documents")
	}
	s := "tenant_" + tenant
	if !identifier.MatchString(s) {
		return "", fmt.Errorf("tenant %q: use lower-case letters, digits and _", tenant)
	}
	return s, nil
}

// Checksum is the SHA-256 of a document's canonical encoding.
func Checksum(data []byte) []byte {
	s := sha256.Sum256(data)
	return s[:]
}

// Stats counts a load.
type Stats struct {
	Read     int64            `json:"read"`
	Skipped  int64            `json:"skippedByCheckpoint"`
	Written  int64            `json:"written"`
	Rejected int64            `json:"rejected"`
	Tables   map[string]int64 `json:"tables"` // documents written per table
	Schema   SchemaVersion    `json:"schema"`
	// ForeignKeys are created after the load, where every row points at an existing row.
	ForeignKeys []ForeignKeyResult `json:"foreignKeys,omitempty"`
}

// batch is the rows of one transaction, per table.
type batch struct {
	rows    map[*table][][]any
	rejects [][]any
	n       int // documents in the batch
	advance int // of them, those past the checkpoint (the others are earlier rejects, retried)
	group   string
	// paths are those of every document read since the last batch, written or skipped, with
	// where each was read: the commit refuses one the run has seen before.
	paths, origins []string
	index          map[string]int // path -> its place in paths
}

func newBatch() *batch { return &batch{rows: map[*table][][]any{}, index: map[string]int{}} }

// see adds a document's path, refusing one the batch holds already.
func (b *batch) see(d *Document) error {
	if i, dup := b.index[d.Path]; dup {
		return &duplicateError{path: d.Path, first: b.origins[i], second: d.Origin}
	}
	b.index[d.Path] = len(b.paths)
	b.paths, b.origins = append(b.paths, d.Path), append(b.origins, d.Origin)
	return nil
}

func (b *batch) reset() {
	clear(b.rows)
	clear(b.index)
	b.rejects, b.n, b.advance = b.rejects[:0], 0, 0
	b.paths, b.origins = b.paths[:0], b.origins[:0]
}

// Load streams src into the tables; a path the source gives twice stops it, named with both
// places (the paths seen are kept, hashed, in a temporary table, so memory stays flat).
// Nothing is created before the source has answered: the schema, the staging tables and the
// checkpoint are set up when the first document arrives (or the source turns out empty), so a
// source that cannot be read leaves the database as it was.
func (l *Loader) Load(ctx context.Context, src Source) (Stats, error) {
	st := Stats{Tables: map[string]int64{}}
	conn, err := l.Pool.Acquire(ctx)
	if err != nil {
		return st, err
	}
	defer conn.Release()
	p := l.Plan
	size := max(l.BatchSize, 1)
	l.source, l.seed = src, maphash.MakeSeed()
	var (
		started    bool
		done       int64           // documents the checkpoint counts (the committer moves it)
		skip       int64           // what it counted at the start
		retry      map[string]bool // earlier rejects, tried again even before the checkpoint
		hadRejects bool
	)
	// Reading and encoding run here while the previous batch commits on the other side of the
	// channel: the two halves use different cores.
	batches := make(chan *batch, 1)
	free := make(chan *batch, 2)
	free <- newBatch()
	free <- newBatch()
	committed := make(chan error, 1)
	failed := make(chan struct{}) // closed when a commit fails: reading stops
	commitAll := func() {
		var err error
		for b := range batches {
			if err == nil {
				if err = l.commit(ctx, conn.Conn(), b, done+int64(b.advance), hadRejects); err != nil {
					close(failed)
				}
			}
			if err == nil {
				hadRejects = hadRejects || len(b.rejects) > 0
				done += int64(b.advance)
				st.Written += int64(b.n - len(b.rejects))
				st.Rejected += int64(len(b.rejects))
				for t, rows := range b.rows {
					st.Tables[t.name] += int64(len(rows))
				}
				if l.Progress != nil {
					l.Progress(done, b.group)
				}
			}
			b.reset()
			free <- b
		}
		committed <- err
	}
	// start prepares the database and starts the committer; Load waits for the committer only
	// once it has started.
	start := func() error {
		var err error
		if st.Schema, done, retry, err = l.prepare(ctx, conn.Conn()); err != nil {
			return err
		}
		skip, hadRejects = done, len(retry) > 0
		go commitAll()
		started = true
		return nil
	}

	var b *batch
	send := func() {
		if b != nil && (b.n > 0 || len(b.paths) > 0) {
			batches <- b
			b = nil
		}
	}
	var read, skipped int64
	err = src.Documents(ctx, func(d Document) error {
		if !started {
			if err := start(); err != nil {
				return err
			}
		}
		if b == nil {
			select {
			case b = <-free:
			case <-failed:
				return errCommitFailed
			}
		}
		if err := b.see(&d); err != nil {
			return err
		}
		read++
		past := read > skip
		if !past && !retry[d.Path] {
			skipped++
			if len(b.paths) >= 4*size { // a resume's skipped paths go to the database in bulk
				send()
			}
			return nil
		}
		t := p.route(&d)
		row, rejected, err := t.row(&d)
		if err != nil {
			return err
		}
		if rejected {
			b.rejects = append(b.rejects, row)
		} else {
			b.rows[t] = append(b.rows[t], row)
		}
		b.n++
		if past {
			b.advance++
		}
		b.group = d.CollectionID()
		if b.n == size {
			send()
		}
		return nil
	})
	if err == nil && !started {
		err = start()
	}
	if !started {
		return st, err
	}
	if err == nil {
		send()
	}
	close(batches)
	commitErr := <-committed
	st.Read, st.Skipped = read, skipped
	if commitErr != nil {
		return st, commitErr
	}
	if err != nil {
		return st, err
	}
	st.ForeignKeys, err = p.createForeignKeys(ctx, conn.Conn())
	return st, err
}

// prepare applies the schema, drops the foreign keys for the load, makes the staging tables and
// reads the checkpoint and the earlier rejects.
func (l *Loader) prepare(ctx context.Context, conn *pgx.Conn) (schema SchemaVersion, done int64, retry map[string]bool, err error) {
	p := l.Plan
	if schema, err = p.Migrate(ctx, conn); err != nil {
		return schema, 0, nil, err
	}
	if err := p.dropForeignKeys(ctx, conn); err != nil {
		return schema, 0, nil, err
	}
	for _, t := range p.allTables() {
		_, err := conn.Exec(ctx, fmt.Sprintf(`CREATE TEMP TABLE IF NOT EXISTS %s (LIKE %s)`, quote(stagingName(t)), p.qualified(t.name)))
		if err != nil {
			return schema, 0, nil, err
		}
	}
	// The paths this run has read (a pooled connection may have served an earlier load).
	if _, err := conn.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS seen_paths (h int8 PRIMARY KEY); TRUNCATE seen_paths`); err != nil {
		return schema, 0, nil, err
	}
	err = conn.QueryRow(ctx, `SELECT coalesce((SELECT documents FROM resimate_migration.firestore_checkpoints WHERE target = $1 AND source = $2), 0)`,
		p.Schema, l.SourceKey).Scan(&done)
	if err != nil {
		return schema, 0, nil, err
	}
	retry = map[string]bool{}
	rows, err := conn.Query(ctx, `SELECT path FROM `+p.qualified(RejectsTable))
	if err != nil {
		return schema, 0, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var path string
		if err := rows.Scan(&path); err != nil {
			return schema, 0, nil, err
		}
		retry[path] = true
	}
	return schema, done, retry, rows.Err()
}

// rememberPaths adds the batch's paths to the run's seen_paths, by a 64-bit hash of each, and
// refuses one seen in an earlier batch. A hash seen before is confirmed by reading the source
// again (two paths may share a hash): the first place of the path must be another document's.
func (l *Loader) rememberPaths(ctx context.Context, tx pgx.Tx, b *batch) error {
	hashes := make([]int64, len(b.paths))
	for i, p := range b.paths {
		hashes[i] = int64(maphash.String(l.seed, p))
	}
	// One statement: what it did not add was there before.
	rows, err := tx.Query(ctx, `INSERT INTO pg_temp.seen_paths (h) SELECT unnest($1::int8[]) ON CONFLICT DO NOTHING RETURNING h`, hashes)
	if err != nil {
		return err
	}
	added, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil || len(added) == len(hashes) {
		return err
	}
	isNew := make(map[int64]bool, len(added))
	for _, h := range added {
		isNew[h] = true
	}
	for i, h := range hashes {
		if isNew[h] {
			isNew[h] = false // a second path of the batch with this hash was there before too
			continue
		}
		if first, _ := firstBefore(ctx, l.source, b.paths[i], math.MaxInt64); first != b.origins[i] {
			return &duplicateError{path: b.paths[i], first: first, second: b.origins[i]}
		}
	}
	return nil
}

// paths is the first column of rows: every row, table or reject, starts with the document's path.
func paths(rows [][]any) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r[0].(string)
	}
	return out
}

// errCommitFailed stops the source when the committer has failed; Load returns the commit's error.
var errCommitFailed = errors.New("a commit failed")

func stagingName(t *table) string { return "stage_" + t.name }

// commit copies one batch in and moves the checkpoint, atomically. A document is in exactly one
// place: its table, or the rejects (a reload that now fits, or no longer fits, moves it).
func (l *Loader) commit(ctx context.Context, conn *pgx.Conn, b *batch, checkpoint int64, hadRejects bool) error {
	p := l.Plan
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it is a no-op
	if err := l.rememberPaths(ctx, tx, b); err != nil {
		return err
	}
	for t, rows := range b.rows {
		if err := l.write(ctx, tx, t, rows); err != nil {
			return err
		}
		if hadRejects {
			if _, err := tx.Exec(ctx, `DELETE FROM `+p.qualified(RejectsTable)+` WHERE path = ANY($1)`, paths(rows)); err != nil {
				return err
			}
		}
	}
	if len(b.rejects) > 0 {
		rejected := paths(b.rejects)
		for _, t := range p.allTables() {
			if _, err := tx.Exec(ctx, `DELETE FROM `+p.qualified(t.name)+` WHERE path = ANY($1)`, rejected); err != nil {
				return err
			}
		}
		for _, r := range b.rejects {
			_, err := tx.Exec(ctx, `INSERT INTO `+p.qualified(RejectsTable)+` (path, target_table, reason, document, checksum) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (path) DO UPDATE SET target_table = EXCLUDED.target_table, reason = EXCLUDED.reason,
				document = EXCLUDED.document, checksum = EXCLUDED.checksum, rejected_at = now()`, r...)
			if err != nil {
				return fmt.Errorf("recording reject %s: %w", r[0], err)
			}
		}
	}
	_, err = tx.Exec(ctx, `INSERT INTO resimate_migration.firestore_checkpoints (target, source, documents) VALUES ($1, $2, $3)
		ON CONFLICT (target, source) DO UPDATE SET documents = EXCLUDED.documents, updated_at = now()`, p.Schema, l.SourceKey, checkpoint)
	if err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// write puts rows into a table. The common case, a first load, copies straight into the table
// (inside a savepoint); when a row is already there (a rerun, a replayed batch, a document
// that changed table) that fails on the primary key, and the batch goes the slower way: COPY
// into a staging table and an upsert. After one conflict the table always goes that way.
func (l *Loader) write(ctx context.Context, tx pgx.Tx, t *table, rows [][]any) error {
	p := l.Plan
	if !t.upsert {
		if _, err := tx.Exec(ctx, "SAVEPOINT direct_copy"); err != nil {
			return err
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{p.Schema, t.name}, t.columns, pgx.CopyFromRows(rows))
		var pgErr *pgconn.PgError
		switch {
		case err == nil:
			_, err = tx.Exec(ctx, "RELEASE SAVEPOINT direct_copy")
			return err
		case errors.As(err, &pgErr) && pgErr.Code == "23505": // unique_violation
			if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT direct_copy"); err != nil {
				return err
			}
			t.upsert = true
		default:
			return fmt.Errorf("copying documents into %s: %w", t.name, err)
		}
	}
	stage := quote(stagingName(t))
	if _, err := tx.Exec(ctx, `TRUNCATE `+stage); err != nil {
		return err
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{stagingName(t)}, t.columns, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("copying documents into %s: %w", t.name, err)
	}
	cols := quoteAll(t.columns)
	set := make([]string, 0, len(t.columns)-1)
	for _, c := range t.columns[1:] {
		set = append(set, quote(c)+" = EXCLUDED."+quote(c))
	}
	_, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (%s) SELECT %s FROM %s ON CONFLICT (path) DO UPDATE SET %s`,
		p.qualified(t.name), cols, cols, stage, strings.Join(set, ", ")))
	if err != nil {
		return fmt.Errorf("writing documents into %s: %w", t.name, err)
	}
	return nil
}
