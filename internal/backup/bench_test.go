package backup_test

import (
	"context"
	"net/url"
	"os/exec"
	"path/filepath"
	"runtime/metrics"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resimate/resimatectl/internal/backup"
	"github.com/resimate/resimatectl/internal/testenv"
)

// BenchmarkBackupVsPgDump backs up and restores databases of about 100 MB and 1 GB, with
// resimatectl (pg_dump from one exported snapshot while the tables are checksummed, zstd, age,
// into a folder store; the restore reads and checks the whole part first, then replays it in one
// transaction and compares the checksums) and with plain `pg_dump -Fc` to a file and
// `pg_restore` from it, in the same run. It reports the times, the ratios (resimatectl over the
// reference: below 1 is faster) and the peak of the Go runtime's memory during each.
func BenchmarkBackupVsPgDump(b *testing.B) {
	sizes := []struct {
		name string
		rows int
	}{{"100MB", 450_000}, {"1GB", 4_500_000}}
	for b.Loop() {
		for _, size := range sizes {
			dsn := testenv.Database(b)
			src := asDatabase(b, dsn)
			generate(b, dsn, size.rows)
			out, err := exec.Command("psql", dsn, "-qtAc", "SELECT pg_database_size(current_database())").Output()
			require.NoError(b, err)
			bytes, err := strconv.ParseInt(string(out[:len(out)-1]), 10, 64)
			require.NoError(b, err)
			b.ReportMetric(float64(bytes)/(1<<20), size.name+"-db-MiB")

			dumpFile := filepath.Join(b.TempDir(), "db.dump")
			pgDump := elapsed(func() { run(b, "pg_dump", "-Fc", "-f", dumpFile, dsn) })
			store, err := backup.Open(context.Background(), b.TempDir())
			require.NoError(b, err)
			sealing, keys := keypair(b)
			var m *backup.Manifest
			ours, oursPeak := peakMemory(func() {
				m, err = backup.Create(context.Background(), store, backup.CreateOptions{Parts: []backup.Part{backup.DatabasePart("db", src)}, Sealing: sealing})
				require.NoError(b, err)
			})
			pgRestore := elapsed(func() { run(b, "pg_restore", "-d", testenv.Database(b), dumpFile) })
			target := asDatabase(b, testenv.Database(b))
			oursRestore, restorePeak := peakMemory(func() {
				_, err := backup.Restore(context.Background(), store, m.ID, backup.RestoreOptions{Parts: []backup.Part{backup.DatabasePart("db", target)}, Keys: keys})
				require.NoError(b, err)
			})
			rec, _ := m.Part("db")
			b.ReportMetric(float64(rec.Size)/(1<<20), size.name+"-set-MiB")
			b.ReportMetric(pgDump.Seconds(), size.name+"-pg_dump-Fc-s")
			b.ReportMetric(ours.Seconds(), size.name+"-backup-s")
			b.ReportMetric(ours.Seconds()/pgDump.Seconds(), size.name+"-backup-ratio")
			b.ReportMetric(pgRestore.Seconds(), size.name+"-pg_restore-s")
			b.ReportMetric(oursRestore.Seconds(), size.name+"-restore-s")
			b.ReportMetric(oursRestore.Seconds()/pgRestore.Seconds(), size.name+"-restore-ratio")
			b.ReportMetric(float64(oursPeak)/(1<<20), size.name+"-backup-peak-MiB")
			b.ReportMetric(float64(restorePeak)/(1<<20), size.name+"-restore-peak-MiB")
		}
	}
}

// generate fills a database: a tenant's events with an index, about 230 bytes a row on disk.
func generate(b *testing.B, dsn string, rows int) {
	run(b, "psql", dsn, "-qc", `CREATE SCHEMA tenant_bench;
		CREATE TABLE tenant_bench.events (id bigint PRIMARY KEY, tenant int NOT NULL, at timestamptz NOT NULL, body text NOT NULL);
		INSERT INTO tenant_bench.events SELECT g, g % 97, timestamptz '2026-01-01' + g * interval '1 second',
			md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) || md5((g * 31)::text) || md5((g * 61)::text)
			FROM generate_series(1, `+strconv.Itoa(rows)+`) g;
		CREATE INDEX ON tenant_bench.events (tenant, at);`, "-c", "VACUUM ANALYZE tenant_bench.events")
}

// asDatabase is a test database's URL as a backup.Database.
func asDatabase(b testing.TB, dsn string) backup.Database {
	u, err := url.Parse(dsn)
	require.NoError(b, err)
	port, err := strconv.Atoi(u.Port())
	require.NoError(b, err)
	pw, _ := u.User.Password()
	return backup.Database{Host: u.Hostname(), Port: port, User: u.User.Username(), Password: pw, Name: u.Path[1:], SSLMode: "disable"}
}

func run(b *testing.B, name string, args ...string) {
	out, err := exec.Command(name, args...).CombinedOutput()
	require.NoError(b, err, "%s: %s", name, out)
}

func elapsed(f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start)
}

// peakMemory runs f and samples the memory the Go runtime holds from the system meanwhile.
func peakMemory(f func()) (time.Duration, uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		sample := []metrics.Sample{{Name: "/memory/classes/total:bytes"}}
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	d := elapsed(f)
	close(done)
	<-sampled
	return d, peak.Load()
}
