package realpods_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/resimate/resimatectl/internal/testenv"
)

// flow is one connection of the platform's traffic matrix, tried for real from a pod of the
// source component: it must open when the design needs it and be refused otherwise.
type flow struct {
	from, container string
	// to is the destination: a Service's name (resolved by the pod through CoreDNS), or an
	// address.
	to   func(p *platform, outside string) string
	open bool
	why  string
}

func service(name string) func(*platform, string) string {
	return func(*platform, string) string { return name }
}

func postgres(p *platform, _ string) string {
	return net.JoinHostPort(p.rp.PostgresHost, p.rp.PostgresPort)
}
func outsideTheCluster(_ *platform, outside string) string { return outside }

var flows = []flow{
	{"frontend", "frontend", service("resimate-core-model-api:80"), true, "the web app calls the APIs"},
	{"frontend", "frontend", service("resimate-campaigns-api:80"), true, "the web app calls the APIs"},
	{"frontend", "frontend", service("resimate-config-api:80"), true, "the web app calls the APIs"},
	{"frontend", "frontend", service("resimate-kratos-public:80"), true, "and Kratos for the session"},
	{"core-model-api", "api", postgres, true, "each API keeps its data in PostgreSQL"},
	{"campaigns-api", "api", postgres, true, "each API keeps its data in PostgreSQL"},
	{"config-api", "api", postgres, true, "each API keeps its data in PostgreSQL"},
	{"core-model-api", "api", service("resimate-vault:8200"), true, "and reads its secrets from Vault"},
	{"config-api", "api", service("resimate-kratos-public:80"), true, "and validates sessions with Kratos"},
	{"kratos", "kratos", postgres, true, "identities live in PostgreSQL"},
	{"vault", "vault", service("resimate-vault-0.resimate-vault-internal:8201"), true, "Raft between the nodes"},
	{"vault", "vault", service("kubernetes.default.svc:443"), true, "TokenReview for Kubernetes auth"},

	{"frontend", "frontend", postgres, false, "the frontend never touches the database"},
	{"frontend", "frontend", service("resimate-vault:8200"), false, "nor Vault"},
	{"frontend", "frontend", service("resimate-kratos-admin:80"), false, "Kratos' admin API is reachable from no one"},
	{"core-model-api", "api", service("resimate-kratos-admin:80"), false, "not even from the APIs"},
	{"kratos", "kratos", service("resimate-vault:8200"), false, "Kratos gets its secrets from Kubernetes, not Vault"},
	{"vault", "vault", postgres, false, "Vault keeps its data in Raft"},
	{"frontend", "frontend", service("kubernetes.default.svc:443"), false, "the frontend has no business with the API server"},
	{"frontend", "frontend", outsideTheCluster, false, "no pod reaches an address outside the cluster"},
	{"campaigns-api", "api", outsideTheCluster, false, "no pod reaches an address outside the cluster"},
	{"kratos", "kratos", outsideTheCluster, false, "no pod reaches an address outside the cluster"},
	{"vault", "vault", outsideTheCluster, false, "no pod reaches an address outside the cluster"},
}

func checkFlows(t *testing.T, p *platform) {
	outside, accepted := p.rp.HostListener(t)
	// The listener answers from this machine: a refusal below is the policy's, not a dead port.
	conn, err := net.DialTimeout("tcp", outside, time.Second)
	require.NoError(t, err)
	conn.Close()
	testenv.Eventually(t, 5*time.Second, "the host's own connection", func() (bool, error) { return accepted() == 1, nil })

	sources := map[string]string{}
	for _, f := range flows {
		if sources[f.from] == "" {
			sources[f.from] = p.rp.PodOf(t, p.ns, "app.kubernetes.io/component="+f.from)
		}
	}
	// One at a time: a refusal is immediate (kube-router rejects), and so each takes 0.1 s.
	for _, f := range flows {
		to := f.to(p, outside)
		opened, out, err := p.rp.Dial(context.Background(), p.ns, sources[f.from], f.container, to)
		if assert.NoError(t, err) {
			assert.Equal(t, f.open, opened, "%s->%s: %s (%s)", f.from, to, f.why, out)
		}
	}
	assert.Equal(t, 1, accepted(), "no pod's connection reached the outside listener")
}

// checkRequestFlow is the architecture's request flow: a user registers and signs in through
// Kratos' public Service, the frontend asks Kratos for the session and calls an API, which
// validates the session with Kratos and reads PostgreSQL with the credentials Vault Agent
// rendered from Vault.
func checkRequestFlow(t *testing.T, p *platform) {
	kratos := "http://" + p.rp.ServiceAddr(t, p.ns, "resimate-kratos-public")
	frontend := "http://" + p.rp.ServiceAddr(t, p.ns, "resimate-frontend")
	email := testenv.UniqueName("user") + "@example.com"
	const password = "a-long-and-unbreached-passphrase-42"

	var reg struct {
		Identity struct{ ID string } `json:"identity"`
	}
	selfService(t, kratos, "registration", map[string]any{"method": "password", "password": password, "traits": map[string]any{"email": email}}, &reg)
	require.NotEmpty(t, reg.Identity.ID)
	var login struct {
		Token string `json:"session_token"`
	}
	selfService(t, kratos, "login", map[string]any{"method": "password", "password": password, "identifier": email}, &login)
	require.NotEmpty(t, login.Token)

	var data map[string]any
	code := getJSON(t, frontend+"/api/data", login.Token, &data)
	require.Equal(t, http.StatusOK, code, "%v", data)
	assert.Equal(t, map[string]any{"identity": reg.Identity.ID, "database_user": "resimate", "database": "resimate",
		"search_path": "tenant_resimate_main", "tenant": "resimate_main", "via": "frontend"}, data)
	assert.Equal(t, http.StatusUnauthorized, getJSON(t, frontend+"/api/data", "not-a-session", nil), "a wrong token is refused")

	// The only password the API's pod has is the file Vault Agent wrote: nothing in its spec.
	dep, err := p.rp.Client.AppsV1().Deployments(p.ns).Get(context.Background(), "resimate-core-model-api", metav1.GetOptions{})
	require.NoError(t, err)
	for _, c := range dep.Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			assert.Nil(t, e.ValueFrom, "%s gets %s from the cluster, not Vault", c.Name, e.Name)
		}
	}
}

// selfService runs one of Kratos' API flows (registration, login): create it, submit body.
func selfService(t *testing.T, kratos, name string, body map[string]any, into any) {
	t.Helper()
	var f struct{ ID string }
	require.Equal(t, http.StatusOK, getJSON(t, kratos+"/self-service/"+name+"/api", "", &f))
	b, err := json.Marshal(body)
	require.NoError(t, err)
	start := time.Now()
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Post(kratos+"/self-service/"+name+"?flow="+f.ID, "application/json", bytes.NewReader(b))
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", name, raw)
	require.NoError(t, json.Unmarshal(raw, into))
	// Kratos reaches nothing outside: no lookup waits for a time-out (the breach check is off).
	assert.Less(t, time.Since(start), 5*time.Second, "%s took %s", name, time.Since(start))
}

func getJSON(t *testing.T, url, token string, into any) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("X-Session-Token", token)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if into != nil && resp.StatusCode == http.StatusOK {
		require.NoError(t, json.Unmarshal(raw, into), string(raw))
	}
	return resp.StatusCode
}
