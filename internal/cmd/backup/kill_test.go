package backup_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resimate/resimatectl/internal/testenv"
)

// fillLarge adds a table of about 100 MB, so that a dump or a restore runs long enough to be
// seen at work.
func (s *site) fillLarge() {
	_, err := s.app.Exec(context.Background(), `CREATE TABLE tenant_acme.events (id bigint PRIMARY KEY, body text NOT NULL);
		INSERT INTO tenant_acme.events SELECT g, repeat(md5(g::text), 6) FROM generate_series(1, 500000) g`)
	require.NoError(s.t, err)
}

// start runs resimatectl in the background.
func (s *site) start(args ...string) (*exec.Cmd, *bytes.Buffer) {
	cmd := exec.Command(testenv.Binary(s.t), append([]string{"--kubeconfig", s.kubeconfig}, args...)...)
	cmd.Env = append(append(os.Environ(), "XDG_CONFIG_HOME="+s.t.TempDir()), s.bucket.Env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(s.t, cmd.Start())
	return cmd, &out
}

// copying waits until the server shows the backup's client tools copying table data (pg_dump's
// COPY TO, pg_restore's COPY FROM): the run is at work.
func (s *site) copying(direction string) {
	testenv.Eventually(s.t, 60*time.Second, "a "+direction+" COPY of the backup's tools", func() (bool, error) {
		var n int
		err := s.app.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE application_name = 'resimatectl-backup' AND query LIKE 'COPY %' AND query LIKE '%' || $1 || '%'`, direction).Scan(&n)
		return n > 0, err
	})
}

// gone waits until no session of the backup's tools is left on the server.
func (s *site) gone() {
	testenv.Eventually(s.t, 60*time.Second, "the backup's sessions ended", func() (bool, error) {
		var n int
		err := s.app.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'resimatectl-backup'").Scan(&n)
		return n == 0, err
	})
}

// SIGKILL while pg_dump copies, then again: the killed run left no set that looks complete; the
// rerun makes one. SIGKILL while pg_restore copies: the database is as it was before; the rerun
// restores.
func TestBackupSurvivesKill(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.fillLarge()
	create := []string{"backup", "create", "-n", s.ns, "--to", s.bucket.URL, "-r", s.recipient, "--parts", "db"}

	cmd, out := s.start(create...)
	s.copying("TO stdout")
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	s.gone()
	assert.NotContains(t, out.String(), "complete")
	r := s.run("backup", "list", "--store", s.bucket.URL, "-o", "json")
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.NotContains(t, r.Stdout, `"complete": true`, "the killed backup left no complete set")

	r = s.run(create...)
	require.Equal(t, 0, r.Code, r.Stderr)
	r = s.run("backup", "list", "--store", s.bucket.URL)
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Regexp(t, `(?m)^\S+ +complete `, r.Stdout)
	id := bytes.Fields([]byte(r.Stdout[bytes.IndexByte([]byte(r.Stdout), '\n')+1:]))[0]

	_, err := s.app.Exec(context.Background(), "DELETE FROM tenant_acme.events WHERE id > 1000; INSERT INTO public.resimate_migrations VALUES (77)")
	require.NoError(t, err)
	restore := []string{"backup", "restore", string(id), "-n", s.ns, "--store", s.bucket.URL, "-i", s.identity, "--parts", "db", "--yes", "--overwrite"}
	cmd, _ = s.start(restore...)
	s.copying("FROM stdin")
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	s.gone()
	assert.Equal(t, 1000, s.count(s.app, "tenant_acme.events"), "the killed restore left the database as it was")
	assert.Equal(t, 3, s.count(s.app, "public.resimate_migrations"))

	r = s.run(restore...)
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Equal(t, 500000, s.count(s.app, "tenant_acme.events"))
	assert.Equal(t, 2, s.count(s.app, "public.resimate_migrations"))
}

// Ctrl-C (SIGINT) while pg_dump copies: exit 130, and the interrupted backup removed what it had
// written, so the store holds no set at all.
func TestBackupInterrupted(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.fillLarge()
	cmd, out := s.start("backup", "create", "-n", s.ns, "--to", s.bucket.URL, "-r", s.recipient, "--parts", "db")
	s.copying("TO stdout")
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	err := cmd.Wait()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, out.String())
	assert.Equal(t, 130, exit.ExitCode(), out.String())
	assert.Contains(t, out.String(), "interrupted")
	s.gone()
	r := s.run("backup", "list", "--store", s.bucket.URL, "-o", "json")
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.JSONEq(t, "[]", r.Stdout, "nothing of the interrupted set is left")
}
