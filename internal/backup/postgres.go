package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"
)

// Database is one of the platform's PostgreSQL databases, reached as the role that owns it:
// the owner may read, drop and recreate everything in it, and needs no admin URL.
type Database struct {
	Host, SSLMode  string
	Port           int
	User, Password string // Password is a secret: passed to pg_dump in its environment, never argv
	Name           string
	// Via says how Host:Port leads to the server, when it is a port-forward's local end.
	Via string
}

func (d Database) url() string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(d.User, d.Password), Host: d.Host + ":" + strconv.Itoa(d.Port), Path: "/" + d.Name}
	if d.SSLMode != "" {
		u.RawQuery = "sslmode=" + url.QueryEscape(d.SSLMode)
	}
	return u.String()
}

// env is libpq's environment for pg_dump and pg_restore: the password stays out of the
// process list.
func (d Database) env() []string {
	env := []string{"PGHOST=" + d.Host, "PGPORT=" + strconv.Itoa(d.Port), "PGUSER=" + d.User, "PGPASSWORD=" + d.Password,
		"PGDATABASE=" + d.Name, "PGAPPNAME=resimatectl-backup", "PGCONNECT_TIMEOUT=15"}
	if d.SSLMode != "" {
		env = append(env, "PGSSLMODE="+d.SSLMode)
	}
	return env
}

func (d Database) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, d.url())
	if err != nil {
		return nil, fmt.Errorf("connecting to database %s on %s:%d as %s: %w", d.Name, d.Host, d.Port, d.User, unwrapConnect(err))
	}
	return conn, nil
}

// unwrapConnect keeps the server's reason, without the connection string.
func unwrapConnect(err error) error {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		return errors.New(msg[i+2:])
	}
	return err
}

// TableSum is a table's row count and an order-independent checksum of its rows, taken in the
// dump's snapshot and compared after a restore. Method says how rows were hashed: "record"
// (PostgreSQL's hash of the row value, fast) or "text" (the hash of the row's text, for tables
// with a column type that has no hash function, such as json).
type TableSum struct {
	Rows   int64  `json:"rows"`
	Sum    string `json:"sum"`
	Method string `json:"method"`
}

// rowHashes are the ways a row is hashed, fastest first. The sum of 64-bit hashes is exact
// (numeric) and does not depend on row order.
var rowHashes = []struct{ method, expr string }{
	{"record", "hash_record_extended(t, 0)"},
	{"text", "hashtextextended(t::text, 0)"},
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Begin(ctx context.Context) (pgx.Tx, error)
}

// tableSums checksums every ordinary table outside PostgreSQL's own schemas; methods, when
// given, are the ones the backup used.
func tableSums(ctx context.Context, q querier, methods map[string]TableSum) (map[string]TableSum, error) {
	rows, err := q.Query(ctx, `SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%' ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	sums := make(map[string]TableSum, len(tables))
	for _, t := range tables {
		s, err := tableSum(ctx, q, t, methods[t].Method)
		if err != nil {
			return nil, fmt.Errorf("checksumming %s: %w", t, err)
		}
		sums[t] = s
	}
	return sums, nil
}

// tableSum tries each row hash (or only method) in a savepoint: a type without a hash function
// fails the statement, which would otherwise end the snapshot's transaction.
func tableSum(ctx context.Context, q querier, table, method string) (TableSum, error) {
	var lastErr error
	for _, h := range rowHashes {
		if method != "" && h.method != method {
			continue
		}
		sub, err := q.Begin(ctx)
		if err != nil {
			return TableSum{}, err
		}
		s := TableSum{Method: h.method}
		err = sub.QueryRow(ctx, "SELECT count(*), coalesce(sum("+h.expr+"), 0)::text FROM "+table+" t").Scan(&s.Rows, &s.Sum)
		if err == nil {
			return s, sub.Commit(ctx)
		}
		lastErr = err
		if rerr := sub.Rollback(ctx); rerr != nil {
			return TableSum{}, rerr
		}
	}
	return TableSum{}, lastErr
}

// Dump writes the database with pg_dump's custom format (uncompressed: the set compresses) from
// one snapshot, exported by a read-only transaction that checksums the same snapshot meanwhile.
func (d Database) Dump(ctx context.Context, w io.Writer) (Facts, error) {
	conn, err := d.connect(ctx)
	if err != nil {
		return Facts{}, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var facts Facts
	if err := conn.QueryRow(ctx, "SELECT 'PostgreSQL ' || current_setting('server_version')").Scan(&facts.Server); err != nil {
		return Facts{}, err
	}
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return Facts{}, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	var snapshot string
	if err := tx.QueryRow(ctx, "SELECT pg_export_snapshot()").Scan(&snapshot); err != nil {
		return Facts{}, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return d.run(gctx, nil, w, "pg_dump", "--format=custom", "--compress=0", "--snapshot="+snapshot, "--no-password")
	})
	g.Go(func() error {
		sums, err := tableSums(gctx, tx, nil)
		facts.Tables = sums
		return err
	})
	return facts, g.Wait()
}

// NewScratch returns a Scratch that makes databases on the server of adminURL (a role that may
// create databases) and drops them afterwards.
func NewScratch(adminURL string) Scratch {
	return func(ctx context.Context) (Database, func(), error) {
		cfg, err := pgx.ParseConfig(adminURL)
		if err != nil {
			return Database{}, nil, fmt.Errorf("--database-url is not a PostgreSQL URL")
		}
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			return Database{}, nil, fmt.Errorf("connecting to %s as %s for a scratch database: %w", cfg.Host, cfg.User, unwrapConnect(err))
		}
		name := "resimate_verify_" + strings.ReplaceAll(NewID(time.Now()), "-", "_")
		name = strings.ToLower(name)
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
			conn.Close(ctx)
			return Database{}, nil, fmt.Errorf("creating scratch database %s: %w", name, err)
		}
		drop := func() {
			bg := context.WithoutCancel(ctx)
			_, _ = conn.Exec(bg, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
			conn.Close(bg)
		}
		sslmode := ""
		if cfg.TLSConfig == nil {
			sslmode = "disable"
		}
		return Database{Host: cfg.Host, Port: int(cfg.Port), User: cfg.User, Password: cfg.Password, Name: name, SSLMode: sslmode}, drop, nil
	}
}

// IsEmpty reports whether the database holds no table of its own.
func (d Database) IsEmpty(ctx context.Context) (bool, error) {
	conn, err := d.connect(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'`).Scan(&n)
	return n == 0, err
}

// Restore replays a dump in one transaction: on any error nothing of it stays. What the dump
// holds replaces what is there; ownership and grants go to the restoring role, so the dump also
// restores into another installation's database. Then the tables' checksums must equal want.
func (d Database) Restore(ctx context.Context, r io.Reader, want map[string]TableSum) error {
	err := d.run(ctx, r, nil, "pg_restore", "--single-transaction", "--exit-on-error", "--clean", "--if-exists",
		"--no-owner", "--no-acl", "--no-password", "--dbname="+d.Name)
	if err != nil {
		return err
	}
	if want == nil {
		return nil
	}
	conn, err := d.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	got, err := tableSums(ctx, conn, want)
	if err != nil {
		return err
	}
	return compareSums(d.Name, want, got)
}

func compareSums(db string, want, got map[string]TableSum) error {
	for t, w := range want {
		if g, ok := got[t]; !ok || g != w {
			return fmt.Errorf("database %s after the restore: table %s has %d rows with checksum %s, the backup recorded %d rows with %s", db, t, g.Rows, g.Sum, w.Rows, w.Sum)
		}
	}
	return nil
}

// run runs a PostgreSQL client tool with the database's environment; its stderr becomes the
// error's text.
func (d Database) run(ctx context.Context, in io.Reader, out io.Writer, tool string, args ...string) error {
	cmd := exec.CommandContext(ctx, tool, args...)
	cmd.Env = d.env()
	cmd.Stdin, cmd.Stdout = in, out
	var stderr bytes.Buffer
	cmd.Stderr = &limited{w: &stderr, n: 16 << 10}
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return fmt.Errorf("%s is needed (PostgreSQL's client tools, the server's major version or newer): %w", tool, err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s of database %s: %v: %s", tool, d.Name, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// limited keeps the first n bytes written to it and drops the rest.
type limited struct {
	w io.Writer
	n int
}

func (l *limited) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		_, _ = l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}
