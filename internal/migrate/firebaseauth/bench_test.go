package firebaseauth_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	fa "github.com/resimate/resimatectl/internal/migrate/firebaseauth"
	"github.com/resimate/resimatectl/internal/testenv"
)

// memorySource serves prepared users without a file or emulator in the way.
type memorySource struct{ users []fa.User }

func (m *memorySource) Describe() string { return "memory" }
func (m *memorySource) Users(_ context.Context, fn func(fa.User) error) error {
	for _, u := range m.users {
		if err := fn(u); err != nil {
			return err
		}
	}
	return nil
}

func benchUsers(tag string, n int, p *fa.HashParams) []fa.User {
	users := make([]fa.User, n)
	for i := range users {
		salt := []byte(fmt.Sprintf("s%d", i))
		h, _ := p.Hash(fmt.Sprintf("pw%d", i), salt)
		users[i] = fa.User{UID: fmt.Sprintf("%s-%d", tag, i), Email: fmt.Sprintf("%s-%d@example.com", tag, i),
			EmailVerified: i%2 == 0, DisplayName: "Bench User", PasswordHash: h, PasswordSalt: salt}
	}
	return users
}

// BenchmarkImportVsKratosCLI imports the same 10 000 Firebase users (different addresses, so
// both runs create) into the same Kratos with resimatectl's importer and with Kratos' own
// `kratos import identities`, and reports identities per second for each and the ratio.
func BenchmarkImportVsKratosCLI(b *testing.B) {
	e := testenv.Require(b, testenv.Kratos, testenv.Postgres)
	const n = 10000
	p := &fa.HashParams{SignerKey: []byte("bench-signer-key-0123456789abcde"), SaltSeparator: []byte{1}, Rounds: 1, MemCost: 1}
	for b.Loop() {
		tag := fmt.Sprintf("bench%x", randomBytes(3))
		mapping := &fa.Mapping{SchemaID: "user_v1", Hash: p, Providers: fa.DefaultProviders}

		// Kratos' CLI, on the identities our mapping makes.
		prepared := mapping.Prepare(benchUsers(tag+"k", n, p))
		bodies := make([]any, 0, n)
		for _, uid := range prepared.Order {
			bodies = append(bodies, prepared.Identities[uid])
		}
		data, err := json.Marshal(bodies)
		require.NoError(b, err)
		file := filepath.Join(b.TempDir(), "identities.json")
		require.NoError(b, os.WriteFile(file, data, 0o600))
		start := time.Now()
		out, err := exec.Command(e.KratosBin, "import", "identities", file, "-e", e.KratosAdminURL).CombinedOutput()
		require.NoError(b, err, "%s", out[:min(len(out), 500)])
		cliRate := n / time.Since(start).Seconds()

		// resimatectl's importer, ledger included.
		pool, _ := testenv.Pool(b)
		run := &fa.Run{Source: &memorySource{benchUsers(tag+"r", n, p)}, Project: tag, Mapping: mapping,
			Importer: &fa.Importer{Admin: testenv.KratosAdmin(b), Ledger: &fa.Ledger{Pool: pool, Project: tag}, BatchSize: benchBatch(), Concurrency: benchConc()}}
		start = time.Now()
		rep, err := run.Execute(context.Background())
		require.NoError(b, err)
		require.Equal(b, n, rep.Totals[fa.OutcomeImported])
		ourRate := n / time.Since(start).Seconds()

		b.ReportMetric(ourRate, "resimatectl-ids/s")
		b.ReportMetric(cliRate, "kratos-cli-ids/s")
		b.ReportMetric(ourRate/cliRate, "ratio")
	}
}

func benchBatch() int { return envInt("BENCH_BATCH", 500) }
func benchConc() int  { return envInt("BENCH_CONC", 4) }
func envInt(k string, d int) int {
	var n int
	if _, err := fmt.Sscan(os.Getenv(k), &n); err != nil {
		return d
	}
	return n
}
