// Package database prepares an external PostgreSQL (a cloud-managed server) for the platform:
// the roles its components connect as, with the generated passwords, each owning its own
// database and nothing else. Operator mode needs none of it: the CloudNativePG Cluster makes
// its roles and databases itself.
package database

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Owner is one role with its database: the role owns the database and the schemas in it.
type Owner struct {
	Role     string
	Password string // a secret: sent as a SCRAM verifier, never as text
	Database string
	Schemas  []string
}

// Admin is a connection to the server as a user that may create roles and databases.
type Admin struct {
	Config *pgx.ConnConfig
	// Mark names the installation in the comment on what it creates ("namespace/release"): a role
	// or database with another mark, or none, is somebody else's and is never touched.
	Mark string
}

// NewAdmin parses the admin URL with the values' host and sslmode (see ParseAdminURL).
func NewAdmin(adminURL, host, sslmode, mark string) (*Admin, error) {
	cfg, _, err := ParseAdminURL(adminURL, host, sslmode)
	if err != nil {
		return nil, err
	}
	return &Admin{Config: cfg, Mark: mark}, nil
}

// ParseAdminURL reads --postgres-url: the values' sslmode applies unless the URL names one, and
// their host when the URL names none. It says which sslmode the connection uses.
func ParseAdminURL(adminURL, host, sslmode string) (*pgx.ConnConfig, string, error) {
	dsn, mode := withSSLMode(adminURL, sslmode)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, "", fmt.Errorf("--postgres-url is not a PostgreSQL URL: %s", redactURLError(err))
	}
	if host != "" && !strings.Contains(adminURL, "@") {
		cfg.Host = host
	}
	return cfg, mode, nil
}

// loginAs is the admin's connection settings with the owner's role, password and database.
func (a *Admin) loginAs(o Owner) *pgx.ConnConfig {
	login := a.Config.Copy()
	login.User, login.Password, login.Database = o.Role, o.Password, o.Database
	return login
}

func (a *Admin) comment() string { return "managed by resimatectl for " + a.Mark }

// Prepare makes each owner's role and database, idempotently, and says what it changed (nothing
// on a rerun). A role or database that exists but is not this installation's stops it with an
// error that says what to do; nothing of it is changed.
func (a *Admin) Prepare(ctx context.Context, owners []Owner) ([]string, error) {
	conn, err := pgx.ConnectConfig(ctx, a.Config)
	if err != nil {
		return nil, fmt.Errorf("connecting to PostgreSQL at %s as %q: %s", a.Config.Host, a.Config.User, message(err))
	}
	defer conn.Close(context.Background())
	var superuser bool
	if err := conn.QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&superuser); err != nil {
		return nil, err
	}
	var changes []string
	for _, o := range owners {
		c, err := a.prepare(ctx, conn, o, superuser)
		changes = append(changes, c...)
		if err != nil {
			return changes, fmt.Errorf("preparing role %s and database %s: %w", o.Role, o.Database, err)
		}
	}
	return changes, nil
}

func (a *Admin) prepare(ctx context.Context, conn *pgx.Conn, o Owner, superuser bool) ([]string, error) {
	var changes []string
	verifier, err := scramVerifier(o.Password)
	if err != nil {
		return nil, err
	}
	role := pgx.Identifier{o.Role}.Sanitize()
	var roleMark *string
	err = conn.QueryRow(ctx, "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = $1", o.Role).Scan(&roleMark)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		// Least privilege: it logs in and owns its database, nothing more.
		if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD %s",
			role, quoteLiteral(verifier))); err != nil {
			return changes, errors.New(message(err))
		}
		if _, err := conn.Exec(ctx, fmt.Sprintf("COMMENT ON ROLE %s IS %s", role, quoteLiteral(a.comment()))); err != nil {
			return changes, errors.New(message(err))
		}
		changes = append(changes, "created role "+o.Role)
	case err != nil:
		return changes, err
	case roleMark == nil || *roleMark != a.comment():
		return changes, fmt.Errorf("role %s exists on the server and is not this installation's (its comment is %s, not %q): nothing was changed; "+
			"use another server or other names, or, if it is left from an earlier install of this one, mark it: COMMENT ON ROLE %s IS %s",
			o.Role, describeMark(roleMark), a.comment(), role, quoteLiteral(a.comment()))
	}
	if !superuser {
		// A cloud admin is no superuser: to create a database owned by the role it must be a
		// member of it (the way RDS, Azure and Cloud SQL document it).
		if _, err := conn.Exec(ctx, fmt.Sprintf("GRANT %s TO CURRENT_USER", role)); err != nil {
			return changes, errors.New(message(err))
		}
	}

	var dbOwner string
	var dbMark *string
	err = conn.QueryRow(ctx, "SELECT pg_get_userbyid(datdba), shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1", o.Database).Scan(&dbOwner, &dbMark)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		db := pgx.Identifier{o.Database}.Sanitize()
		if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s OWNER %s", db, role)); err != nil {
			return changes, errors.New(message(err))
		}
		for _, stmt := range []string{
			fmt.Sprintf("COMMENT ON DATABASE %s IS %s", db, quoteLiteral(a.comment())),
			// Only its owner (and the admin) may connect.
			fmt.Sprintf("REVOKE ALL ON DATABASE %s FROM PUBLIC", db),
		} {
			if _, err := conn.Exec(ctx, stmt); err != nil {
				return changes, errors.New(message(err))
			}
		}
		changes = append(changes, "created database "+o.Database)
	case err != nil:
		return changes, err
	case dbOwner != o.Role || dbMark == nil || *dbMark != a.comment():
		return changes, fmt.Errorf("database %s exists on the server and is not this installation's (owner %s, comment %s): nothing was changed; use another database name (values postgres.database, postgres.kratosDatabase)",
			o.Database, dbOwner, describeMark(dbMark))
	}

	// The password in the Secret is the one that works: a rerun where it does changes nothing.
	works, err := a.passwordWorks(ctx, conn, o, superuser)
	if err != nil {
		return changes, err
	}
	if !works {
		if _, err := conn.Exec(ctx, fmt.Sprintf("ALTER ROLE %s PASSWORD %s", role, quoteLiteral(verifier))); err != nil {
			return changes, errors.New(message(err))
		}
		changes = append(changes, "set the password of role "+o.Role+" to the one in its Secret")
	}
	own, err := pgx.ConnectConfig(ctx, a.loginAs(o))
	if err != nil {
		return changes, fmt.Errorf("logging in as %s: %s", o.Role, message(err))
	}
	defer own.Close(context.Background())
	for _, schema := range o.Schemas {
		var exists bool
		if err := own.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema).Scan(&exists); err != nil {
			return changes, err
		}
		if exists {
			continue
		}
		if _, err := own.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
			return changes, errors.New(message(err))
		}
		changes = append(changes, "created schema "+schema+" in "+o.Database)
	}
	return changes, nil
}

// passwordWorks reports whether the role's password is o.Password: a superuser compares it with
// the stored SCRAM verifier (a server that trusts loopback logs anybody in), others try to log in.
func (a *Admin) passwordWorks(ctx context.Context, conn *pgx.Conn, o Owner, superuser bool) (bool, error) {
	if superuser {
		var stored *string
		if err := conn.QueryRow(ctx, "SELECT rolpassword FROM pg_authid WHERE rolname = $1", o.Role).Scan(&stored); err != nil {
			return false, err
		}
		return stored != nil && scramMatches(*stored, o.Password), nil
	}
	own, err := pgx.ConnectConfig(ctx, a.loginAs(o))
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		return true, own.Close(ctx)
	case errors.As(err, &pgErr) && pgErr.Code == "28P01": // invalid_password
		return false, nil
	}
	return false, fmt.Errorf("logging in as %s: %s", o.Role, message(err))
}

func describeMark(mark *string) string {
	if mark == nil {
		return "empty"
	}
	return fmt.Sprintf("%q", *mark)
}

// quoteLiteral quotes s as an SQL string literal (standard_conforming_strings is on since 9.1).
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// message is a server error's own message, without pgx's wrapping (which may echo the URL).
func message(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Message + " (SQLSTATE " + pgErr.Code + ")"
	}
	return redactURLError(err)
}

// withSSLMode gives a URL or key=value DSN the sslmode the values name, unless it names one
// itself, and says which mode the connection uses.
func withSSLMode(dsn, mode string) (string, string) {
	if i := strings.Index(dsn, "sslmode="); i >= 0 {
		named := dsn[i+len("sslmode="):]
		if j := strings.IndexAny(named, "& "); j >= 0 {
			named = named[:j]
		}
		return dsn, named
	}
	if mode == "" {
		return dsn, "prefer"
	}
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set("sslmode", mode)
		u.RawQuery = q.Encode()
		return u.String(), mode
	}
	return dsn + " sslmode=" + mode, mode
}

// redactURLError keeps pgx's parse errors from echoing the URL (and its password).
func redactURLError(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "cannot parse"); i >= 0 {
		if j := strings.Index(msg, "`:"); j > i {
			return "cannot parse it:" + msg[j+2:]
		}
	}
	return msg
}

// Drop removes what Prepare made for this installation: each owner's database, then its role.
// What is not this installation's is left and listed in kept.
func (a *Admin) Drop(ctx context.Context, owners []Owner) (dropped, kept []string, err error) {
	conn, err := pgx.ConnectConfig(ctx, a.Config)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to PostgreSQL at %s as %q: %s", a.Config.Host, a.Config.User, message(err))
	}
	defer conn.Close(context.Background())
	for _, o := range owners {
		for _, obj := range []struct{ kind, name, query, drop string }{
			{"database", o.Database, "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1", "DROP DATABASE %s WITH (FORCE)"},
			{"role", o.Role, "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = $1", "DROP ROLE %s"},
		} {
			var mark *string
			err := conn.QueryRow(ctx, obj.query, obj.name).Scan(&mark)
			if errors.Is(err, pgx.ErrNoRows) {
				continue
			}
			if err != nil {
				return dropped, kept, err
			}
			if mark == nil || *mark != a.comment() {
				kept = append(kept, obj.kind+" "+obj.name+" (not this installation's)")
				continue
			}
			if _, err := conn.Exec(ctx, fmt.Sprintf(obj.drop, pgx.Identifier{obj.name}.Sanitize())); err != nil {
				return dropped, kept, fmt.Errorf("dropping %s %s: %s", obj.kind, obj.name, message(err))
			}
			dropped = append(dropped, obj.kind+" "+obj.name)
		}
	}
	return dropped, kept, nil
}
