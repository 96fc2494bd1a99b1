package backup

import (
	"context"
	"fmt"
	"net"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/resimate/resimatectl/internal/kube"
	"github.com/resimate/resimatectl/internal/secrets"
)

// PartNames are the parts a set can hold, in the order a restore applies them: the cluster
// state, the application's database, the identities (Kratos' database), Vault.
var PartNames = []string{"cluster", "db", "identities", "vault"}

// Installation is one release, as a backup reads it and a restore writes it.
type Installation struct {
	Kube      *kube.Set
	Namespace string
	Release   string
	// Values are the release's effective values; UserValues those given on top of the chart's.
	Values, UserValues map[string]any
	// Chart (name-version) and AppVersion of the release, for the manifest.
	Chart, AppVersion string
	// Vault is the Vault part's source and target; VaultForce installs a snapshot of another
	// Vault cluster.
	Vault      *Vault
	VaultForce bool
	forwards   []*kube.Forward
	primaryPod string
}

// Close ends the port-forwards the parts opened.
func (in *Installation) Close() {
	for _, f := range in.forwards {
		f.Close()
	}
}

func (in *Installation) value(path ...string) string {
	v, ok, _ := unstructured.NestedFieldNoCopy(in.Values, path...)
	if !ok || v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// Parts returns the named parts of this installation.
func (in *Installation) Parts(ctx context.Context, names []string) ([]Part, error) {
	var out []Part
	for _, name := range names {
		switch name {
		case "db", "identities":
			d, err := in.database(ctx, name)
			if err != nil {
				return nil, err
			}
			out = append(out, DatabasePart(name, d))
		case "cluster":
			out = append(out, ClusterPart(Cluster{Kube: in.Kube.Kube, Namespace: in.Namespace, Release: in.Release, Values: in.UserValues, Chart: in.Chart}))
		case "vault":
			if in.Vault == nil {
				return nil, fmt.Errorf("part vault: no Vault client")
			}
			out = append(out, VaultPart(*in.Vault, in.VaultForce))
		default:
			return nil, fmt.Errorf("unknown part %q (parts: cluster, db, identities, vault)", name)
		}
	}
	return out, nil
}

// database is the application's database (db) or Kratos' (identities), reached as its owner:
// on the external server, or through a port-forward to the CloudNativePG cluster's primary.
func (in *Installation) database(ctx context.Context, part string) (Database, error) {
	app, kratos, err := secrets.DatabaseLogins(ctx, in.Kube.Kube, in.Namespace, in.Release)
	if err != nil {
		return Database{}, err
	}
	d := Database{User: app.User, Password: app.Password, Name: in.value("postgres", "database")}
	if part == "identities" {
		d = Database{User: kratos.User, Password: kratos.Password, Name: in.value("postgres", "kratosDatabase")}
	}
	if in.value("postgres", "mode") == "external" {
		d.Host, d.SSLMode = in.value("postgres", "external", "host"), in.value("postgres", "external", "sslmode")
		d.Port, err = strconv.Atoi(in.value("postgres", "external", "port"))
		return d, err
	}
	host, port, pod, err := in.primary(ctx)
	if err != nil {
		return Database{}, err
	}
	// The port-forward runs inside the API server's TLS connection; the server's own TLS is
	// used when it offers it.
	d.Host, d.Port, d.SSLMode, d.Via = host, port, "prefer", "a port-forward to pod "+in.Namespace+"/"+pod
	return d, nil
}

// primary opens (once) a port-forward to the CloudNativePG cluster's primary instance.
func (in *Installation) primary(ctx context.Context) (host string, port int, pod string, err error) {
	if len(in.forwards) == 0 {
		cluster := in.Release + "-postgres"
		pods, err := in.Kube.Kube.CoreV1().Pods(in.Namespace).List(ctx, metav1.ListOptions{
			LabelSelector: "cnpg.io/cluster=" + cluster + ",cnpg.io/instanceRole=primary"})
		if err != nil {
			return "", 0, "", err
		}
		if len(pods.Items) == 0 {
			return "", 0, "", fmt.Errorf("no primary instance of PostgreSQL cluster %s in %s (pods labelled cnpg.io/instanceRole=primary)", cluster, in.Namespace)
		}
		in.primaryPod = pods.Items[0].Name
		fw, err := kube.PortForward(ctx, in.Kube.Config, in.Namespace, in.primaryPod, 5432)
		if err != nil {
			return "", 0, "", err
		}
		in.forwards = append(in.forwards, fw)
	}
	host, p, err := net.SplitHostPort(in.forwards[0].Address)
	if err != nil {
		return "", 0, "", err
	}
	port, err = strconv.Atoi(p)
	return host, port, in.primaryPod, err
}
