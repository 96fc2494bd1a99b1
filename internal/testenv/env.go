// Package testenv gives Go tests typed access to the real servers that hack/testenv/up.sh starts
// (Kubernetes API, PostgreSQL, Kratos, the Firebase Auth and Firestore emulators, the real-pod
// cluster) and fresh isolation per test: a namespace, a database, an emulator project id.
//
// When a server is not running the test is skipped with a hint, except under CI=true, where a
// missing component fails the test: CI must never pass by skipping.
package testenv

import (
	"bufio"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Component names a server of the test environment.
type Component string

// The components up.sh starts.
const (
	Kubernetes Component = "kubernetes"
	// KubernetesBare is a second, empty API server: no nodes, StorageClasses or CRDs.
	KubernetesBare Component = "kubernetes-bare"
	Postgres       Component = "postgres"
	Kratos         Component = "kratos"
	FirebaseAuth   Component = "firebase-auth"
	Firestore      Component = "firestore"
	// S3, GCS and Azurite are the object stores of the backup tests.
	S3      Component = "s3"
	GCS     Component = "gcs"
	Azurite Component = "azurite"
)

// Env is what the env file written by up.sh says.
type Env struct {
	File             string
	BinDir           string
	Kubeconfig       string
	KubeconfigBare   string
	DatabaseURL      string
	PGBin            string
	KratosAdminURL   string
	KratosPublicURL  string
	KratosBin        string
	KratosConfig     string
	VaultBin         string
	FirebaseAuthHost string
	FirestoreHost    string
	// ChartsMirror is the folder of packaged upstream charts and their SHA256SUMS.
	ChartsMirror string
	// S3Endpoint is versitygw's URL; GCSHost and AzuriteHost are host:port.
	S3Endpoint  string
	GCSHost     string
	AzuriteHost string
	// The real-pod cluster (realpods.go).
	RealPodsKubeconfig   string
	RealPodsDatabaseURL  string
	RealPodsNodeIP       string
	RealPodsPGPort       string
	RealPodsRegistry     string
	RealPodsStorageClass string
	RealPodsS3Endpoint   string
}

var (
	loadOnce sync.Once
	loaded   *Env
	loadErr  error
)

// DefaultFile is where up.sh writes the env file unless RESIMATE_TESTENV_STATE moves it.
func DefaultFile() string {
	if state := os.Getenv("RESIMATE_TESTENV_STATE"); state != "" {
		return filepath.Join(state, "env")
	}
	return filepath.Join(os.TempDir(), "resimatectl-testenv", "env")
}

// Load reads the env file named by RESIMATE_TESTENV (or the default one) once per process. The
// emulator variables are also exported into the process, because the Google SDKs read them there.
func Load() (*Env, error) {
	loadOnce.Do(func() { loaded, loadErr = load() })
	return loaded, loadErr
}

func load() (*Env, error) {
	file := os.Getenv("RESIMATE_TESTENV")
	if file == "" {
		file = DefaultFile()
	}
	vars, err := parseEnvFile(file)
	if err != nil {
		return nil, fmt.Errorf("test environment not found (%v): run 'make testenv-up'", err)
	}
	e := &Env{
		File:             file,
		BinDir:           vars["RESIMATE_TESTENV_BIN"],
		Kubeconfig:       vars["KUBECONFIG"],
		KubeconfigBare:   vars["KUBECONFIG_BARE"],
		DatabaseURL:      vars["DATABASE_URL"],
		PGBin:            vars["PG_BIN"],
		KratosAdminURL:   vars["KRATOS_ADMIN_URL"],
		KratosPublicURL:  vars["KRATOS_PUBLIC_URL"],
		KratosBin:        vars["KRATOS_BIN"],
		KratosConfig:     vars["KRATOS_CONFIG"],
		VaultBin:         vars["VAULT_BIN"],
		FirebaseAuthHost: vars["FIREBASE_AUTH_EMULATOR_HOST"],
		FirestoreHost:    vars["FIRESTORE_EMULATOR_HOST"],
		ChartsMirror:     vars["RESIMATE_CHARTS_MIRROR"],
		S3Endpoint:       vars["TESTENV_S3_ENDPOINT"],
		GCSHost:          vars["TESTENV_GCS_HOST"],
		AzuriteHost:      vars["TESTENV_AZURITE_HOST"],

		RealPodsKubeconfig:   vars["REALPODS_KUBECONFIG"],
		RealPodsDatabaseURL:  vars["REALPODS_DATABASE_URL"],
		RealPodsNodeIP:       vars["REALPODS_NODE_IP"],
		RealPodsPGPort:       vars["REALPODS_PG_PORT"],
		RealPodsRegistry:     vars["REALPODS_REGISTRY"],
		RealPodsStorageClass: vars["REALPODS_STORAGE_CLASS"],
		RealPodsS3Endpoint:   vars["REALPODS_S3_ENDPOINT"],
	}
	for _, k := range []string{"FIREBASE_AUTH_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST"} {
		if os.Getenv(k) == "" && vars[k] != "" {
			_ = os.Setenv(k, vars[k])
		}
	}
	return e, nil
}

// parseEnvFile reads `export KEY=VALUE` lines.
func parseEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export "))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			vars[k] = strings.Trim(v, `"'`)
		}
	}
	return vars, sc.Err()
}

// address returns host:port of a component, for the reachability probe.
func (e *Env) address(c Component) (string, error) {
	switch c {
	case Kubernetes:
		return hostOfKubeconfig(e.Kubeconfig)
	case KubernetesBare:
		return hostOfKubeconfig(e.KubeconfigBare)
	case Postgres:
		return hostOfURL(e.DatabaseURL)
	case Kratos:
		return hostOfURL(e.KratosAdminURL)
	case FirebaseAuth:
		return e.FirebaseAuthHost, nil
	case Firestore:
		return e.FirestoreHost, nil
	case S3:
		return hostOfURL(e.S3Endpoint)
	case GCS:
		return e.GCSHost, nil
	case Azurite:
		return e.AzuriteHost, nil
	case RealPods:
		return hostOfKubeconfig(e.RealPodsKubeconfig)
	}
	return "", fmt.Errorf("unknown component %q", c)
}

func hostOfURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	return u.Host, nil
}

func hostOfKubeconfig(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if s, ok := strings.CutPrefix(strings.TrimSpace(line), "server:"); ok {
			return hostOfURL(strings.TrimSpace(s))
		}
	}
	return "", fmt.Errorf("no server in %s", path)
}

// Require returns the environment when every named component answers on its port. Otherwise it
// skips the test, or fails it under CI=true.
func Require(t testing.TB, components ...Component) *Env {
	t.Helper()
	if skipUnderShort() {
		t.Skip("integration test: skipped under -short")
	}
	e, err := Load()
	if err != nil {
		unavailable(t, err.Error())
		return nil
	}
	for _, c := range components {
		addr, err := e.address(c)
		if err == nil && addr == "" {
			err = fmt.Errorf("not in %s", e.File)
		}
		if err == nil {
			var conn net.Conn
			if conn, err = net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
				conn.Close()
			}
		}
		if err != nil {
			unavailable(t, fmt.Sprintf("%s is not running (%v): run 'make testenv-up'", c, err))
			return nil
		}
	}
	return e
}

// ChartsMirror returns the folder of packaged upstream charts (install's --charts-dir) and its
// SHA256SUMS (--charts-digests). Without it the test skips, or fails under CI=true.
func ChartsMirror(t testing.TB) (dir, digests string) {
	t.Helper()
	if skipUnderShort() {
		t.Skip("needs the test environment: skipped under -short")
	}
	e, err := Load()
	if err != nil {
		unavailable(t, err.Error())
		return "", ""
	}
	digests = filepath.Join(e.ChartsMirror, "SHA256SUMS")
	if _, err := os.Stat(digests); e.ChartsMirror == "" || err != nil {
		unavailable(t, "no upstream charts mirror (RESIMATE_CHARTS_MIRROR when running 'make testenv-up')")
		return "", ""
	}
	return e.ChartsMirror, digests
}

// skipUnderShort: -short skips integration tests, except under CI, where nothing is skipped
// and a missing server fails the run.
func skipUnderShort() bool { return testing.Short() && !InCI() }

// InCI reports whether the tests run under CI, where nothing may be skipped for want of a server.
func InCI() bool { return os.Getenv("CI") == "true" }

func unavailable(t testing.TB, msg string) {
	t.Helper()
	if InCI() {
		t.Fatalf("CI=true and the test environment is incomplete: %s", msg)
	}
	t.Skip(msg)
}
