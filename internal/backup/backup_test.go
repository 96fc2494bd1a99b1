package backup_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/hashicorp/vault/api"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resimate/resimatectl/internal/backup"
	"github.com/resimate/resimatectl/internal/testenv"
)

// database returns a fresh test database as backup.Database, and a pool on it.
func database(t *testing.T) (backup.Database, *pgxpool.Pool) {
	pool, dsn := testenv.Pool(t)
	return asDatabase(t, dsn), pool
}

// keypair returns a sealing to a new age identity, and the file holding the identity.
func keypair(t testing.TB) (backup.Sealing, backup.Keys) {
	id, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "key.txt")
	require.NoError(t, os.WriteFile(file, []byte(id.String()+"\n"), 0o600))
	sealing, err := backup.SealTo([]string{id.Recipient().String()}, "")
	require.NoError(t, err)
	keys, err := backup.KeysFrom([]string{file}, "")
	require.NoError(t, err)
	return sealing, keys
}

func folderStore(t testing.TB) (*backup.Store, string) {
	dir := t.TempDir()
	s, err := backup.Open(context.Background(), dir)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s, dir
}

// fill makes a tenant schema with fixtures and a journal table a writer keeps appending to.
func fill(t *testing.T, pool *pgxpool.Pool) {
	ctx := context.Background()
	_, err := pool.Exec(ctx, `CREATE SCHEMA tenant_acme;
		CREATE TABLE tenant_acme.models (id bigint PRIMARY KEY, name text NOT NULL, params jsonb, created timestamptz DEFAULT now());
		INSERT INTO tenant_acme.models SELECT g, 'model ' || g, jsonb_build_object('k', g), now() FROM generate_series(1, 5000) g;
		CREATE INDEX ON tenant_acme.models (name);
		CREATE TABLE tenant_acme.journal (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp());
		CREATE TABLE tenant_acme.raw_events (id bigint PRIMARY KEY, doc json);
		INSERT INTO tenant_acme.raw_events SELECT g, json_build_object('g', g) FROM generate_series(1, 300) g;
		CREATE TABLE public.schema_migrations (version bigint PRIMARY KEY);
		INSERT INTO public.schema_migrations VALUES (1), (2), (3);`)
	require.NoError(t, err)
}

// writer appends journal rows 1, 2, 3, ... each in its own transaction until stopped, and
// reports the last committed id.
func writer(t *testing.T, pool *pgxpool.Pool) (last func() int64, stop func()) {
	var committed atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for id := int64(1); ctx.Err() == nil; id++ {
			if _, err := pool.Exec(ctx, "INSERT INTO tenant_acme.journal (id) VALUES ($1)", id); err != nil {
				return
			}
			committed.Store(id)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return committed.Load, func() { cancel(); <-done }
}

// The restored database is exactly the dump's snapshot while writes went on: the journal is
// 1..k with no gap, k between what was committed before and after the backup, and every table's
// checksum is the one recorded.
func TestDatabaseSnapshotRoundTrip(t *testing.T) {
	ctx := context.Background()
	db, pool := database(t)
	fill(t, pool)
	last, stop := writer(t, pool)
	testenv.Eventually(t, 30*time.Second, "the writer's first rows", func() (bool, error) { return last() >= 200, nil })
	store, _ := folderStore(t)
	sealing, keys := keypair(t)

	before := last()
	m, err := backup.Create(ctx, store, backup.CreateOptions{Parts: []backup.Part{backup.DatabasePart("db", db)}, Sealing: sealing})
	require.NoError(t, err)
	after := last()
	stop()
	rec, ok := m.Part("db")
	require.True(t, ok)
	k := rec.Tables["tenant_acme.journal"].Rows
	assert.GreaterOrEqual(t, k, before, "rows committed before the backup began are in it")
	assert.LessOrEqual(t, k, after, "no row committed after the backup ended is in it")
	assert.Equal(t, int64(5000), rec.Tables["tenant_acme.models"].Rows)
	assert.Equal(t, "record", rec.Tables["tenant_acme.models"].Method)
	assert.Equal(t, "text", rec.Tables["tenant_acme.raw_events"].Method, "json has no hash function: rows are hashed as text")
	assert.Contains(t, rec.Server, "PostgreSQL ")

	_, err = backup.Verify(ctx, store, m.ID, keys, nil)
	require.NoError(t, err)
	var deep []string
	_, err = backup.VerifyDeep(ctx, store, m.ID, keys, backup.NewScratch(testenv.Require(t, testenv.Postgres).DatabaseURL),
		func(format string, args ...any) { deep = append(deep, fmt.Sprintf(format, args...)) })
	require.NoError(t, err)
	assert.Contains(t, deep, "db: restored into a scratch database, 4 tables match their checksums")

	// Damage the database, then restore over it.
	_, err = pool.Exec(ctx, "DELETE FROM tenant_acme.models WHERE id % 2 = 0; DROP TABLE public.schema_migrations; UPDATE tenant_acme.raw_events SET doc = '{}'")
	require.NoError(t, err)
	_, err = backup.Restore(ctx, store, m.ID, backup.RestoreOptions{Parts: []backup.Part{backup.DatabasePart("db", db)}, Keys: keys})
	require.ErrorIs(t, err, backup.ErrNotEmpty, "a database that holds data is not replaced unless told")
	_, err = backup.Restore(ctx, store, m.ID, backup.RestoreOptions{Parts: []backup.Part{backup.DatabasePart("db", db)}, Keys: keys, Overwrite: true})
	require.NoError(t, err)

	var n, maxID int64
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*), coalesce(max(id), 0) FROM tenant_acme.journal").Scan(&n, &maxID))
	assert.Equal(t, k, n)
	assert.Equal(t, k, maxID, "the journal is 1..k without a gap")
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM tenant_acme.models").Scan(&n))
	assert.Equal(t, int64(5000), n)
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM public.schema_migrations").Scan(&n))
	assert.Equal(t, int64(3), n)
}

// flip changes one byte in the middle of a file.
func flip(t *testing.T, path string) {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	b[len(b)/2] ^= 0x01
	require.NoError(t, os.WriteFile(path, b, 0o600))
}

// A byte changed in a part, in the manifest or in its sealed copy fails verify and restore with
// an integrity error, and the restore changes nothing.
func TestTamperingIsFound(t *testing.T) {
	ctx := context.Background()
	db, pool := database(t)
	fill(t, pool)
	sealing, keys := keypair(t)
	parts := []backup.Part{backup.DatabasePart("db", db)}
	for _, object := range []string{"parts/db", "manifest.json", "manifest.sealed"} {
		t.Run(object, func(t *testing.T) {
			store, dir := folderStore(t)
			m, err := backup.Create(ctx, store, backup.CreateOptions{Parts: parts, Sealing: sealing})
			require.NoError(t, err)
			flip(t, filepath.Join(dir, m.ID, object))
			_, err = pool.Exec(ctx, "INSERT INTO public.schema_migrations VALUES (99)")
			require.NoError(t, err)
			t.Cleanup(func() { _, _ = pool.Exec(ctx, "DELETE FROM public.schema_migrations WHERE version = 99") })

			var integrity *backup.IntegrityError
			_, err = backup.Verify(ctx, store, m.ID, keys, nil)
			require.ErrorAs(t, err, &integrity)
			_, err = backup.Restore(ctx, store, m.ID, backup.RestoreOptions{Parts: parts, Keys: keys, Overwrite: true})
			require.ErrorAs(t, err, &integrity)
			var n int
			require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM public.schema_migrations WHERE version = 99").Scan(&n))
			assert.Equal(t, 1, n, "the failed restore changed nothing")
		})
	}
}

// The wrong identity, an unknown set, and a set whose backup never finished each get a clear
// error; list shows the unfinished set as incomplete and prune removes it once abandoned.
func TestClearErrors(t *testing.T) {
	ctx := context.Background()
	db, pool := database(t)
	fill(t, pool)
	store, dir := folderStore(t)
	sealing, _ := keypair(t)
	_, otherKeys := keypair(t)
	m, err := backup.Create(ctx, store, backup.CreateOptions{Parts: []backup.Part{backup.DatabasePart("db", db)}, Sealing: sealing})
	require.NoError(t, err)

	_, err = backup.Verify(ctx, store, m.ID, otherKeys, nil)
	require.ErrorContains(t, err, "none of the given identities can decrypt this set")
	_, err = backup.Verify(ctx, store, "20260101T000000Z-000000", otherKeys, nil)
	require.ErrorIs(t, err, backup.ErrNotFound)

	// A set without its marker: what a killed backup leaves.
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "20260101T000000Z-abcdef", "parts"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "20260101T000000Z-abcdef", "parts", "db"), []byte("half"), 0o600))
	_, err = backup.Verify(ctx, store, "20260101T000000Z-abcdef", otherKeys, nil)
	require.ErrorContains(t, err, "incomplete")
	sets, err := store.List(ctx)
	require.NoError(t, err)
	require.Len(t, sets, 2)
	assert.True(t, sets[0].Incomplete)
	assert.True(t, sets[1].Complete)

	removed, err := backup.Prune(ctx, store, time.Now(), time.Hour, 24*time.Hour)
	require.NoError(t, err)
	require.Len(t, removed, 1, "the newest complete set is kept whatever its age")
	assert.Equal(t, "20260101T000000Z-abcdef", removed[0].ID)
	sets, err = store.List(ctx)
	require.NoError(t, err)
	require.Len(t, sets, 1)
	assert.Equal(t, m.ID, sets[0].ID)
}

// Each kind of store takes a whole set, lists it, verifies it and restores from it.
func TestEveryStore(t *testing.T) {
	ctx := context.Background()
	db, pool := database(t)
	fill(t, pool)
	sealing, keys := keypair(t)
	parts := []backup.Part{backup.DatabasePart("db", db)}
	for _, bucket := range []func(testing.TB) testenv.Bucket{testenv.S3Bucket, testenv.GCSBucket, testenv.AzureContainer} {
		b := bucket(t)
		t.Run(b.Kind, func(t *testing.T) {
			b.Setenv(t)
			store, err := backup.Open(ctx, b.URL)
			require.NoError(t, err)
			defer store.Close()
			m, err := backup.Create(ctx, store, backup.CreateOptions{Parts: parts, Sealing: sealing})
			require.NoError(t, err)
			sets, err := store.List(ctx)
			require.NoError(t, err)
			require.Len(t, sets, 1)
			assert.True(t, sets[0].Complete)
			_, err = backup.Verify(ctx, store, m.ID, keys, nil)
			require.NoError(t, err)
			_, err = pool.Exec(ctx, "DELETE FROM tenant_acme.models WHERE id > 100")
			require.NoError(t, err)
			_, err = backup.Restore(ctx, store, m.ID, backup.RestoreOptions{Parts: parts, Keys: keys, Overwrite: true})
			require.NoError(t, err)
			var n int
			require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM tenant_acme.models").Scan(&n))
			assert.Equal(t, 5000, n)
		})
	}
}

// A real Vault (Raft storage): a secret written, backed up, changed, then the snapshot
// restored: the old value reads back.
func TestVaultSnapshotRoundTrip(t *testing.T) {
	ctx := context.Background()
	v := testenv.StartStandaloneVault(t)
	v.Activate(t)
	require.NoError(t, v.Client.Sys().Mount("resimate", &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}))
	kv := v.Client.KVv2("resimate")
	_, err := kv.Put(ctx, "smtp", map[string]any{"password": "before"})
	require.NoError(t, err)

	store, _ := folderStore(t)
	sealing, keys := keypair(t)
	parts := []backup.Part{backup.VaultPart(backup.Vault{Client: v.Client}, false)}
	m, err := backup.Create(ctx, store, backup.CreateOptions{Parts: parts, Sealing: sealing})
	require.NoError(t, err)
	rec, _ := m.Part("vault")
	assert.Contains(t, rec.Server, "Vault 1.")
	assert.Positive(t, rec.Size)

	_, err = kv.Put(ctx, "smtp", map[string]any{"password": "after"})
	require.NoError(t, err)
	_, err = backup.Restore(ctx, store, m.ID, backup.RestoreOptions{Parts: parts, Keys: keys})
	require.ErrorIs(t, err, backup.ErrNotEmpty, "Vault's state is replaced only when told")
	_, err = backup.Restore(ctx, store, m.ID, backup.RestoreOptions{Parts: parts, Keys: keys, Overwrite: true})
	require.NoError(t, err)
	testenv.Eventually(t, 30*time.Second, "the snapshot's secret", func() (bool, error) {
		s, err := kv.Get(ctx, "smtp")
		return err == nil && s.Data["password"] == "before", nil
	})
}

// A store on a full disk (a 1 MiB tmpfs): the backup fails with the system's reason and leaves
// no set behind.
func TestFullDisk(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		if testenv.InCI() {
			t.Fatalf("mounting a small tmpfs: %v: %s", err, out)
		}
		t.Skipf("cannot mount a tmpfs here: %s", out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	db, pool := database(t)
	_, err := pool.Exec(ctx, `CREATE TABLE noise AS SELECT g AS id, gen_random_uuid()::text || gen_random_uuid()::text AS body FROM generate_series(1, 100000) g`)
	require.NoError(t, err)
	store, err := backup.Open(ctx, dir)
	require.NoError(t, err)
	defer store.Close()
	sealing, _ := keypair(t)
	_, err = backup.Create(ctx, store, backup.CreateOptions{Parts: []backup.Part{backup.DatabasePart("db", db)}, Sealing: sealing})
	require.ErrorContains(t, err, "no space left on device")
	sets, err := store.List(ctx)
	require.NoError(t, err)
	assert.Empty(t, sets, "nothing of the failed set is left")
}

// prune takes exactly the expired sets: complete ones past the retention except the newest
// complete one, and incomplete ones past the abandonment age; never a set it cannot read.
func TestExpired(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	complete := func(id string, age time.Duration) backup.Entry {
		return backup.Entry{ID: id, Complete: true, Manifest: &backup.Manifest{ID: id, Created: now.Add(-age)}}
	}
	sets := []backup.Entry{
		complete("20261101T020000Z-aaaaaa", 28*24*time.Hour),
		complete("20261114T020000Z-bbbbbb", 15*24*time.Hour),
		complete("20261116T020000Z-cccccc", 13*24*time.Hour),
		{ID: "20261128T020000Z-dddddd", Incomplete: true},
		{ID: "20261129T113000Z-eeeeee", Incomplete: true},
		{ID: "20261001T020000Z-ffffff", Problem: "integrity check failed"},
	}
	var ids []string
	for _, e := range backup.Expired(sets, now, 14*24*time.Hour, 24*time.Hour) {
		ids = append(ids, e.ID)
	}
	assert.Equal(t, []string{"20261101T020000Z-aaaaaa", "20261114T020000Z-bbbbbb", "20261128T020000Z-dddddd"}, ids)
	// With every complete set expired, the newest stays.
	ids = nil
	for _, e := range backup.Expired(sets[:3], now, time.Hour, time.Hour) {
		ids = append(ids, e.ID)
	}
	assert.Equal(t, []string{"20261101T020000Z-aaaaaa", "20261114T020000Z-bbbbbb"}, ids)
}
