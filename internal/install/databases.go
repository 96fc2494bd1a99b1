package install

import (
	"context"
	"fmt"

	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/resimate/resimatectl/internal/database"
	"github.com/resimate/resimatectl/internal/kube"
	"github.com/resimate/resimatectl/internal/render"
	"github.com/resimate/resimatectl/internal/secrets"
)

// prepareDatabases makes, on an external PostgreSQL, the roles and databases the platform
// connects as, with the passwords of the generated Secrets. Without the admin URL it only says
// what must exist: some sites have a DBA make them.
func prepareDatabases(ctx context.Context, env *Env, c *kube.Set, ns, name string, rendered *render.Result, adminURL string) error {
	ext, owners, err := platformDatabases(ctx, c, ns, name, rendered.Effective)
	if err != nil || ext == nil {
		return err
	}
	if adminURL == "" {
		env.emit(Event{Type: "note", Message: fmt.Sprintf("no --postgres-url: the roles %s and %s and their databases %s and %s must exist on %s, with the passwords of Secrets %s-db-app and %s-db-kratos",
			owners[0].Role, owners[1].Role, owners[0].Database, owners[1].Database, ext.host, name, name)})
		return nil
	}
	admin, err := ext.admin(adminURL, ns, name)
	if err != nil {
		return err
	}
	env.emit(Event{Type: "phase", Message: "external PostgreSQL: roles and databases"})
	changes, err := admin.Prepare(ctx, owners)
	for _, c := range changes {
		env.emit(Event{Type: "note", Message: c})
	}
	return err
}

// externalServer is the values' external PostgreSQL.
type externalServer struct{ host, sslmode string }

// admin connects as the admin URL's user; the URL may leave the server to the values, as
// preflight allows.
func (e *externalServer) admin(adminURL, ns, name string) (*database.Admin, error) {
	return database.NewAdmin(adminURL, e.host, e.sslmode, ns+"/"+name)
}

// platformDatabases are the roles and databases the platform needs on an external PostgreSQL
// (nil in operator mode): the application's, with its tenant schema, and Kratos'.
func platformDatabases(ctx context.Context, c *kube.Set, ns, name string, values map[string]any) (*externalServer, []database.Owner, error) {
	value := func(path ...string) string {
		v, _, _ := unstructured.NestedFieldNoCopy(values, path...)
		return fmt.Sprint(v)
	}
	if value("postgres", "mode") != "external" {
		return nil, nil, nil
	}
	app, kratos, err := secrets.DatabaseLogins(ctx, c.Kube, ns, name)
	if err != nil {
		return nil, nil, err
	}
	return &externalServer{host: value("postgres", "external", "host"), sslmode: value("postgres", "external", "sslmode")},
		[]database.Owner{
			{Role: app.User, Password: app.Password, Database: value("postgres", "database"), Schemas: []string{"tenant_" + value("global", "tenant")}},
			{Role: kratos.User, Password: kratos.Password, Database: value("postgres", "kratosDatabase")},
		}, nil
}

// databaseDropper prepares the dropping of the release's external databases and roles, which
// runs last, after the release and its Secrets are gone; its outcome goes into res.
func databaseDropper(ctx context.Context, c *kube.Set, ns, name string, rel *releaseT, adminURL string, res *UninstallResult) (func() error, error) {
	if rel == nil || rel.Chart == nil {
		return nil, fmt.Errorf("no release %s in %s to read the databases from: nothing was removed", name, ns)
	}
	values, err := chartutil.CoalesceValues(rel.Chart, rel.Config)
	if err != nil {
		return nil, err
	}
	ext, owners, err := platformDatabases(ctx, c, ns, name, values)
	if err != nil {
		return nil, err
	}
	if ext == nil {
		return nil, fmt.Errorf("release %s keeps its databases in the cluster (postgres.mode operator): --drop-databases is for an external PostgreSQL; --purge removes the volumes", name)
	}
	admin, err := ext.admin(adminURL, ns, name)
	if err != nil {
		return nil, err
	}
	return func() error {
		dropped, kept, err := admin.Drop(ctx, owners)
		res.Purged = append(res.Purged, dropped...)
		res.Kept = append(res.Kept, kept...)
		return err
	}, nil
}
