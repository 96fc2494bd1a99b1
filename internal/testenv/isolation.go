package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	firebase "firebase.google.com/go/v4"
	"firebase.google.com/go/v4/auth"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	kratos "github.com/ory/kratos-client-go"
	"google.golang.org/api/option"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// UniqueName returns prefix plus a random suffix, valid as a namespace, database or project id.
func UniqueName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return strings.ToLower(prefix) + "-" + hex.EncodeToString(b)
}

// RestConfig returns an admin client configuration for the test cluster.
func RestConfig(t testing.TB) *rest.Config {
	t.Helper()
	e := Require(t, Kubernetes)
	cfg, err := clientcmd.BuildConfigFromFlags("", e.Kubeconfig)
	if err != nil {
		t.Fatalf("loading %s: %v", e.Kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	return cfg
}

// Clientset returns a typed admin client for the test cluster.
func Clientset(t testing.TB) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(RestConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// Namespace creates a fresh namespace with the given labels and deletes it when the test ends.
func Namespace(t testing.TB, labels map[string]string) string {
	t.Helper()
	cs := Clientset(t)
	name := UniqueName("t")
	ctx := context.Background()
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	t.Cleanup(func() {
		_ = cs.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}

// Database creates a fresh PostgreSQL database, drops it when the test ends, and returns its URL.
func Database(t testing.TB) string {
	t.Helper()
	e := Require(t, Postgres)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgxpool.New(ctx, e.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.ReplaceAll(UniqueName("t"), "-", "_")
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		t.Fatalf("creating database: %v", err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		_, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(e.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// Pool opens a pgx pool on a fresh database (see Database).
func Pool(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	dsn := Database(t)
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool, dsn
}

func kratosClient(u string) *kratos.APIClient {
	cfg := kratos.NewConfiguration()
	cfg.Servers = kratos.ServerConfigurations{{URL: u}}
	return kratos.NewAPIClient(cfg)
}

// KratosAdmin returns a client for Kratos' admin API. Kratos is shared: isolate by unique
// identifiers (see UniqueName), not by server.
func KratosAdmin(t testing.TB) *kratos.APIClient {
	t.Helper()
	return kratosClient(Require(t, Kratos).KratosAdminURL)
}

// KratosPublic returns a client for Kratos' public API (self-service flows).
func KratosPublic(t testing.TB) *kratos.APIClient {
	t.Helper()
	return kratosClient(Require(t, Kratos).KratosPublicURL)
}

// ProjectID returns a fresh emulator project id. The "demo-" prefix tells the emulators and SDKs
// that no real project or credentials stand behind it.
func ProjectID() string { return UniqueName("demo") }

// FirebaseAuthClient returns an Admin SDK auth client for a fresh project on the Auth emulator.
func FirebaseAuthClient(t testing.TB) (*auth.Client, string) {
	t.Helper()
	Require(t, FirebaseAuth)
	project := ProjectID()
	app, err := firebase.NewApp(context.Background(), &firebase.Config{ProjectID: project}, option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	client, err := app.Auth(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return client, project
}

// FirestoreClient returns a client for a fresh project on the Firestore emulator.
func FirestoreClient(t testing.TB) (*firestore.Client, string) {
	t.Helper()
	Require(t, Firestore)
	project := ProjectID()
	client, err := firestore.NewClient(context.Background(), project, option.WithoutAuthentication())
	if err != nil {
		t.Fatalf("firestore client: %v", err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return client, project
}

// FirestoreExport asks the emulator for a managed export of project (the files `gcloud firestore
// export` writes) and returns the export folder, under a temporary directory of the test.
func FirestoreExport(t testing.TB, project string) string {
	t.Helper()
	Require(t, Firestore)
	dir := t.TempDir()
	body, _ := json.Marshal(map[string]string{
		"database":         "projects/" + project + "/databases/(default)",
		"export_directory": dir,
	})
	url := "http://" + os.Getenv("FIRESTORE_EMULATOR_HOST") + "/emulator/v1/projects/" + project + ":export"
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("firestore export: %v", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("firestore export: %s: %s", resp.Status, msg)
	}
	folders, _ := filepath.Glob(filepath.Join(dir, "firestore_export_*"))
	if len(folders) != 1 {
		t.Fatalf("firestore export: expected one export folder in %s, found %v", dir, folders)
	}
	return folders[0]
}

// Eventually polls cond every interval until it returns true or timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: not reached within %s (last error: %v)", what, timeout, lastErr)
}

// DropPlatformRoles removes the platform's server-wide database roles (resimate, kratos) and
// the databases they own, as a test that makes them must do first: a killed run may have left
// them.
func DropPlatformRoles(t testing.TB, admin *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	for _, role := range []string{"resimate", "kratos"} {
		rows, err := admin.Query(ctx, "SELECT datname FROM pg_database WHERE datdba = (SELECT oid FROM pg_roles WHERE rolname = $1)", role)
		if err != nil {
			t.Fatal(err)
		}
		dbs, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		for _, db := range dbs {
			if _, err := admin.Exec(ctx, "DROP DATABASE "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := admin.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{role}.Sanitize()); err != nil {
			t.Fatal(err)
		}
	}
}
