package preflight

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/resimate/resimatectl/internal/database"
)

// checkExternalPostgres goes step by step so that each failure says which step failed.
func checkExternalPostgres(ctx context.Context, t *Target) Outcome {
	if t.PostgresURL == "" {
		return Failf("no credentials for the external PostgreSQL at %s:%v: pass --postgres-url", t.str("postgres", "external", "host"), t.value("postgres", "external", "port"))
	}
	// The URL may omit the host: the values name the server.
	cfg, sslmode, err := database.ParseAdminURL(t.PostgresURL, t.str("postgres", "external", "host"), t.str("postgres", "external", "sslmode"))
	if err != nil {
		return Failf("%v", err)
	}
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	cfg.ConnectTimeout = t.ProbeTimeout

	conn, err := (&net.Dialer{Timeout: t.ProbeTimeout}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return Failf("cannot reach PostgreSQL at %s: %v", addr, shortErr(err))
	}
	conn.Close()

	db, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && (pgErr.Code == "28P01" || pgErr.Code == "28000") {
			return Failf("PostgreSQL at %s rejected the credentials of user %q: %s", addr, cfg.User, pgErr.Message)
		}
		if errors.As(err, &pgErr) && pgErr.Code == "3D000" {
			return Failf("PostgreSQL at %s has no database %q", addr, cfg.Database)
		}
		return Failf("cannot connect to PostgreSQL at %s as %q with sslmode %s: %v", addr, cfg.User, sslmode, shortErr(err))
	}
	defer db.Close(context.Background())

	var num int
	var version string
	if err := db.QueryRow(ctx, "SELECT current_setting('server_version_num')::int, current_setting('server_version')").Scan(&num, &version); err != nil {
		return Failf("cannot read the server version: %v", shortErr(err))
	}
	if num < 140000 {
		return Failf("PostgreSQL %s at %s is too old: 14 or newer is needed", version, addr)
	}

	// Schemas are created for the tenant and Kratos: try it, and roll it back.
	tx, err := db.Begin(ctx)
	if err != nil {
		return Failf("cannot start a transaction: %v", shortErr(err))
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // the rollback is the point
	if _, err := tx.Exec(ctx, "CREATE SCHEMA resimate_preflight_probe"); err != nil {
		return Failf("user %q cannot create schemas in database %q: %v", cfg.User, cfg.Database, pgMessage(err))
	}
	return Passf("PostgreSQL %s at %s: credentials of %q work and schemas can be created", version, addr, cfg.User)
}

func pgMessage(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Message
	}
	return shortErr(err)
}

// vaultHealth is the answer of /v1/sys/health.
type vaultHealth struct {
	Initialized bool   `json:"initialized"`
	Sealed      bool   `json:"sealed"`
	Standby     bool   `json:"standby"`
	Version     string `json:"version"`
}

func checkExternalVault(ctx context.Context, t *Target) Outcome {
	addr := strings.TrimRight(t.str("vault", "external", "address"), "/")
	// These codes make every state answer 200 with the body saying which state it is.
	u := addr + "/v1/sys/health?standbyok=true&sealedcode=200&uninitcode=200&perfstandbyok=true"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Failf("vault.external.address %q is not a URL: %v", addr, err)
	}
	client, err := vaultClient(t)
	if err != nil {
		return Failf("%v", err)
	}
	resp, err := client.Do(req)
	var unknownCA x509.UnknownAuthorityError
	var badName x509.HostnameError
	switch {
	case errors.As(err, &unknownCA) || errors.As(err, &badName):
		return Failf("Vault's TLS certificate at %s is not trusted (%v): give the CA that signed it in vault.external.caCert", addr, shortErr(err))
	case err != nil:
		return Failf("cannot reach Vault at %s: %v", addr, shortErr(err))
	}
	defer resp.Body.Close()
	var h vaultHealth
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&h) != nil {
		return Failf("%s does not answer as Vault does (HTTP %d from /v1/sys/health)", addr, resp.StatusCode)
	}
	switch {
	case !h.Initialized:
		return Failf("Vault %s at %s is not initialised", h.Version, addr)
	case h.Sealed:
		return Failf("Vault %s at %s is sealed", h.Version, addr)
	}
	return Passf("Vault %s at %s is initialised and unsealed", h.Version, addr)
}

// vaultClient trusts vault.external.caCert when the values give one, the system's CAs otherwise.
func vaultClient(t *Target) (*http.Client, error) {
	pem := t.str("vault", "external", "caCert")
	if pem == "" {
		return t.HTTP, nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(pem)) {
		return nil, errors.New("vault.external.caCert holds no PEM certificate")
	}
	return &http.Client{Timeout: t.HTTP.Timeout, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}, nil
}

func checkDNS(ctx context.Context, t *Target) Outcome {
	domain := t.str("global", "domain")
	ctx, cancel := context.WithTimeout(ctx, t.ProbeTimeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, domain)
	if err != nil || len(addrs) == 0 {
		return Failf("%s (global.domain) does not resolve from this machine: %v", domain, errOrEmpty(err))
	}
	return Passf("%s resolves to %s", domain, strings.Join(addrs, ", "))
}

func checkSMTP(ctx context.Context, t *Target) Outcome {
	host := t.str("apis", "campaigns", "smtp", "host")
	if host == "" {
		return Failf("no SMTP server set (apis.campaigns.smtp.host): campaigns cannot send e-mail, and Kratos' verification and recovery flows are off")
	}
	addr := net.JoinHostPort(host, fmt.Sprint(t.value("apis", "campaigns", "smtp", "port")))
	conn, err := (&net.Dialer{Timeout: t.ProbeTimeout}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return Failf("cannot reach the SMTP server %s: %v", addr, shortErr(err))
	}
	conn.Close()
	return Passf("SMTP server %s accepts connections", addr)
}

// checkRegistries asks each image registry's API root; any HTTP answer (401 included) means
// it is reachable.
func checkRegistries(ctx context.Context, t *Target) Outcome {
	hosts := imageRegistries(t)
	var bad []string
	for _, h := range hosts {
		ctx, cancel := context.WithTimeout(ctx, t.ProbeTimeout)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+h+"/v2/", nil)
		resp, err := t.HTTP.Do(req)
		cancel()
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", h, shortErr(err)))
			continue
		}
		resp.Body.Close()
	}
	if len(bad) > 0 {
		return Outcome{Status: StatusFail, Details: bad, Message: fmt.Sprintf("%d of %d image registries unreachable from this machine: %s", len(bad), len(hosts), summarise(bad, 3))}
	}
	return Passf("image registries reachable: %s", strings.Join(hosts, ", "))
}

// imageRegistries lists the registry hosts of every container image the chart runs.
func imageRegistries(t *Target) []string {
	set := map[string]bool{}
	for _, w := range workloads(t.Rendered) {
		for _, c := range append(w.Spec.InitContainers, w.Spec.Containers...) {
			if c.Image != "" && c.Image != "postgres" {
				set[registryHost(c.Image)] = true
			}
		}
	}
	// CloudNativePG's image, when named.
	for _, o := range t.Rendered.Objects {
		if img, _, _ := unstructured.NestedString(o.Object, "spec", "imageName"); img != "" && o.GetKind() == "Cluster" {
			set[registryHost(img)] = true
		}
	}
	hosts := make([]string, 0, len(set))
	for h := range set {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	return hosts
}

// registryHost applies the image reference rules: the first path part is a host when it has a
// dot or a port or is localhost; otherwise the image is on Docker Hub.
func registryHost(image string) string {
	first, _, found := strings.Cut(image, "/")
	if found && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return first
	}
	return "registry-1.docker.io"
}

func errOrEmpty(err error) string {
	if err == nil {
		return "no addresses"
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr.Err
	}
	return shortErr(err)
}
