package render_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	kratos "github.com/ory/kratos-client-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/resimate/resimatectl/internal/render"
	"github.com/resimate/resimatectl/internal/testenv"
)

// For every profile, the real Kratos binary runs what the chart renders for it: the migration
// Job's container, then the server's, with the rendered configuration and identity schema, the
// Secrets install generates, and a database of its own; a user registers and signs in through
// it. Only the database address (the test's PostgreSQL, without TLS) and the listen ports are
// changed, to reach loopback.
func TestKratosRunsTheRenderedConfiguration(t *testing.T) {
	e := testenv.Require(t, testenv.Kratos, testenv.Postgres)
	for _, profile := range render.Profiles() {
		t.Run(profile, func(t *testing.T) {
			t.Parallel()
			set := []string{"postgres.external.host=db.example.com"}
			if profile != "local" { // local runs as a laptop would: no SMTP server, no mail flows
				set = append(set, "apis.campaigns.smtp.host=mail.example.com")
			}
			if profile == "aws" { // one with an SMTP login from the site's Secret
				set = append(set, "apis.campaigns.smtp.existingSecret=smtp-login")
			}
			res := renderProfile(t, profile, set...)
			config := find(t, res, "ConfigMap", "resimate-kratos-config")
			files, _, err := unstructured.NestedStringMap(config.Object, "data")
			require.NoError(t, err)
			if profile == "local" {
				assert.NotContains(t, files["kratos.yml"], "courier:", "no SMTP server: no courier")
				for _, flow := range []string{"recovery", "verification"} {
					assert.Regexp(t, flow+`:\n\s+ui_url: \S+\n\s+#[^\n]*\n\s+enabled: false\n`, files["kratos.yml"], "no SMTP server: no %s mail", flow)
				}
			} else {
				assert.Contains(t, files["kratos.yml"], `connection_uri: "smtp://mail.example.com:587/"`)
				assert.Contains(t, files["kratos.yml"], `from_address: "no-reply@`)
			}
			db, err := url.Parse(testenv.Database(t))
			require.NoError(t, err)
			public, admin := testenv.FreePort(t), testenv.FreePort(t)
			container := func(kind, name, containerName string) *testenv.Container {
				spec, volumes := testenv.PodTemplateContainer(t, find(t, res, kind, name), containerName)
				return &testenv.Container{Spec: spec, Volumes: volumes,
					ConfigMaps: map[string]map[string]string{"resimate-kratos-config": files},
					Secrets: map[string]map[string]string{
						"resimate-db-kratos": {"username": db.User.Username(), "password": "unused-on-loopback"},
						"resimate-kratos":    {"cookie": strings.Repeat("c", 48), "cipher": strings.Repeat("k", 32)},
						"smtp-login":         {"username": "resimate", "password": "s3cret"},
					},
					// The database the profile names, moved to the test's server and database.
					Rewrite: func(name, value string) string {
						if name != "DSN" {
							return value
						}
						u, err := url.Parse(value)
						require.NoError(t, err)
						u.Host, u.Path = db.Host, db.Path
						q := u.Query()
						q.Set("sslmode", "disable")
						u.RawQuery = q.Encode()
						return u.String()
					},
					Env: map[string]string{"SERVE_PUBLIC_HOST": "127.0.0.1", "SERVE_PUBLIC_PORT": fmt.Sprint(public),
						"SERVE_ADMIN_HOST": "127.0.0.1", "SERVE_ADMIN_PORT": fmt.Sprint(admin)},
				}
			}

			migrate := container("Job", "resimate-kratos-migrate", "migrate").Command(t, e.KratosBin)
			out, err := migrate.CombinedOutput()
			require.NoError(t, err, "the migration Job's container: %s", out)

			serve := container("StatefulSet", "resimate-kratos", "kratos").Command(t, e.KratosBin)
			var log bytes.Buffer
			serve.Stdout, serve.Stderr = &log, &log
			require.NoError(t, serve.Start())
			exited := make(chan struct{})
			go func() { _ = serve.Wait(); close(exited) }()
			t.Cleanup(func() {
				_ = serve.Process.Kill()
				<-exited
				if t.Failed() {
					t.Logf("kratos printed:\n%s", log.String())
				}
			})
			testenv.Eventually(t, time.Minute, "Kratos serving the rendered configuration", func() (bool, error) {
				select {
				case <-exited:
					t.Fatal("kratos exited")
				default:
				}
				resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/admin/health/ready", admin))
				if err != nil {
					return false, nil
				}
				resp.Body.Close()
				return resp.StatusCode == http.StatusOK, nil
			})

			// A user registers and signs in through the public API.
			cfg := kratos.NewConfiguration()
			cfg.Servers = kratos.ServerConfigurations{{URL: fmt.Sprintf("http://127.0.0.1:%d", public)}}
			client := kratos.NewAPIClient(cfg)
			ctx := context.Background()
			email, password := profile+"-user@example.com", "a long and unusual passphrase 7"
			flow, _, err := client.FrontendAPI.CreateNativeRegistrationFlow(ctx).Execute()
			require.NoError(t, err, log.String())
			_, _, err = client.FrontendAPI.UpdateRegistrationFlow(ctx).Flow(flow.Id).UpdateRegistrationFlowBody(
				kratos.UpdateRegistrationFlowWithPasswordMethodAsUpdateRegistrationFlowBody(kratos.NewUpdateRegistrationFlowWithPasswordMethod(
					"password", password, map[string]any{"email": email}))).Execute()
			require.NoError(t, err, "registration: %s", apiError(err))
			login, _, err := client.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
			require.NoError(t, err)
			session, _, err := client.FrontendAPI.UpdateLoginFlow(ctx).Flow(login.Id).UpdateLoginFlowBody(
				kratos.UpdateLoginFlowWithPasswordMethodAsUpdateLoginFlowBody(kratos.NewUpdateLoginFlowWithPasswordMethod(email, "password", password))).Execute()
			require.NoError(t, err, "sign-in: %s", apiError(err))
			assert.True(t, session.Session.GetActive())
			assert.NotEmpty(t, session.GetSessionToken())
			if profile != "local" {
				login := ""
				if profile == "aws" {
					login = "resimate:s3cret"
				}
				recoveryMailArrives(t, ctx, client, container("Deployment", "resimate-kratos-courier", "courier"), e.KratosBin, email, login)
			}
		})
	}
}

// recoveryMailArrives runs the rendered courier's container against a loopback SMTP server
// (only its address changed, and its test certificate trusted) and asks for a recovery code:
// the mail reaches the server.
func recoveryMailArrives(t *testing.T, ctx context.Context, client *kratos.APIClient, courier *testenv.Container, bin, email, login string) {
	addr, mails := testenv.SMTPServer(t)
	// The server's address, wherever the rendered container names it (the values' host in the
	// configuration, or the connection URI built with the site's login).
	if login == "" {
		courier.Env["COURIER_SMTP_CONNECTION_URI"] = "smtp://" + addr + "/?skip_ssl_verify=true"
	}
	rewrite := courier.Rewrite
	courier.Rewrite = func(name, value string) string {
		if name == "COURIER_SMTP_CONNECTION_URI" {
			return strings.Replace(value, "mail.example.com:587/", addr+"/?skip_ssl_verify=true", 1)
		}
		return rewrite(name, value)
	}
	cmd := courier.Command(t, bin)
	log := &testenv.Buffer{}
	cmd.Stdout, cmd.Stderr = log, log
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	flow, _, err := client.FrontendAPI.CreateNativeRecoveryFlow(ctx).Execute()
	require.NoError(t, err)
	body := kratos.NewUpdateRecoveryFlowWithCodeMethod("code")
	body.SetEmail(email)
	_, _, err = client.FrontendAPI.UpdateRecoveryFlow(ctx).Flow(flow.Id).UpdateRecoveryFlowBody(kratos.UpdateRecoveryFlowWithCodeMethodAsUpdateRecoveryFlowBody(body)).Execute()
	require.NoError(t, err, "recovery: %s", apiError(err))
	// The verification mail registration queued comes too.
	want := map[string]bool{"Subject: Please verify your email address": false, "Subject: Recover access to your account": false}
	deadline := time.After(time.Minute)
	for slices.Contains(slices.Collect(maps.Values(want)), false) {
		select {
		case m := <-mails:
			assert.Equal(t, []string{email}, m.To)
			assert.Equal(t, "no-reply@resimate.example.com", m.From)
			assert.Equal(t, login, m.Login, "the SMTP login")
			for subject := range want {
				want[subject] = want[subject] || strings.Contains(m.Data, subject)
			}
		case <-deadline:
			t.Fatalf("mail missing (%v); the courier printed:\n%s", want, log.String())
		}
	}
}

// apiError is the body of a Kratos API error, which says what was refused.
func apiError(err error) string {
	var open *kratos.GenericOpenAPIError
	if errors.As(err, &open) {
		return string(open.Body())
	}
	return fmt.Sprint(err)
}

// In operator mode the database comes with the release: on a first install the migration Job is
// one of the release's objects, not a pre-install hook (which would run before the CNPG Cluster
// is even created), and the real Kratos binary running its container waits for the database
// and migrates once it exists. Upgrades keep it a pre-upgrade hook.
func TestKratosMigrationWaitsForItsDatabase(t *testing.T) {
	e := testenv.Require(t, testenv.Kratos, testenv.Postgres)
	isHook := func(res *render.Result) bool {
		for _, o := range res.Objects {
			if o.GetKind() == "Job" && o.GetName() == "resimate-kratos-migrate" {
				return o.Hook
			}
		}
		t.Fatal("no migration Job rendered")
		return false
	}
	res := renderProfile(t, "local")
	assert.False(t, isHook(res), "operator mode, first install: a release object")
	upgrade, err := render.Render(context.Background(), render.Options{Profile: "local", Upgrade: true})
	require.NoError(t, err)
	assert.True(t, isHook(upgrade), "operator mode, upgrade: a pre-upgrade hook")
	assert.True(t, isHook(renderProfile(t, "aws")), "external database, prepared before: a hook")

	// The database the Job names does not exist yet.
	existing, err := url.Parse(testenv.Database(t))
	require.NoError(t, err)
	later := strings.TrimPrefix(existing.Path, "/") + "_later"
	spec, volumes := testenv.PodTemplateContainer(t, find(t, res, "Job", "resimate-kratos-migrate"), "migrate")
	migrate := (&testenv.Container{Spec: spec, Volumes: volumes,
		Secrets: map[string]map[string]string{"resimate-db-kratos": {"username": existing.User.Username(), "password": "unused-on-loopback"}},
		Rewrite: func(name, value string) string {
			if name != "DSN" {
				return value
			}
			u, err := url.Parse(value)
			require.NoError(t, err)
			u.Host, u.Path, u.RawQuery = existing.Host, "/"+later, "sslmode=disable"
			return u.String()
		},
	}).Command(t, e.KratosBin)
	out := &testenv.Buffer{}
	migrate.Stdout, migrate.Stderr = out, out
	require.NoError(t, migrate.Start())
	exited := make(chan error, 1)
	go func() { exited <- migrate.Wait() }()
	t.Cleanup(func() { _ = migrate.Process.Kill() })
	testenv.Eventually(t, time.Minute, "the migration waiting for its database", func() (bool, error) {
		return strings.Contains(out.String(), `database \"`+later+`\" does not exist`) || strings.Contains(out.String(), "Unable to ping database, retrying"), nil
	})

	admin, err := pgx.Connect(context.Background(), existing.String())
	require.NoError(t, err)
	defer admin.Close(context.Background())
	_, err = admin.Exec(context.Background(), "CREATE DATABASE "+later)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+later+" WITH (FORCE)") })
	select {
	case err := <-exited:
		require.NoError(t, err, out.String())
	case <-time.After(2 * time.Minute):
		t.Fatalf("the migration did not finish once its database existed:\n%s", out.String())
	}
	db, err := pgx.Connect(context.Background(), strings.Replace(existing.String(), existing.Path, "/"+later, 1))
	require.NoError(t, err)
	defer db.Close(context.Background())
	var tables int
	require.NoError(t, db.QueryRow(context.Background(), "SELECT count(*) FROM information_schema.tables WHERE table_name = 'identities'").Scan(&tables))
	assert.Equal(t, 1, tables, "Kratos' schema is there")
}
