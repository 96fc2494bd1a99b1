package preflight

// Supported Kubernetes versions (documented in docs/preflight.md).
const (
	MinKubeMinor = 30
	MaxKubeMinor = 37
)

// Check ids that others depend on.
const (
	idAPI   = "kube-api"
	idNodes = "nodes"
)

// Checks returns the platform's preflight checks, in report order.
func Checks() []*Check {
	api := []string{idAPI}
	return []*Check{
		{ID: idAPI, Category: "cluster", Severity: Fatal, Docs: "kube-api",
			Description: "API server reachable and credentials accepted",
			Hint:        "check --kubeconfig/--context, that the API server is up, and that your credentials are current",
			Run:         checkAPI},
		{ID: "kube-version", Category: "cluster", Severity: Fail, DependsOn: api, Docs: "kube-version",
			Description: "Kubernetes version supported (1.30 to 1.37)",
			Hint:        "upgrade the cluster to a supported version (docs/preflight.md#kube-version)",
			Run:         checkVersion},
		{ID: "rbac", Category: "access", Severity: Fail, DependsOn: api, Docs: "rbac",
			Description: "permissions for every object install creates",
			Hint:        "bind your user to a role that grants the listed permissions, or run as a cluster administrator",
			Run:         checkRBAC},
		{ID: idNodes, Category: "capacity", Severity: Fail, DependsOn: api, Docs: "nodes",
			Description: "schedulable, Ready nodes for the platform's pods",
			Hint:        "add nodes, uncordon them, or fix global.nodeSelector/global.tolerations",
			Run:         checkNodes},
		{ID: "capacity", Category: "capacity", Severity: Fail, DependsOn: []string{idAPI, idNodes}, Docs: "capacity",
			Description: "CPU and memory for the chart's requests, and a node for the largest pod",
			Hint:        "add nodes or larger nodes to the pool the platform runs on",
			Run:         checkCapacity},
		{ID: "storage-class", Category: "storage", Severity: Fail, DependsOn: api, Docs: "storage-class",
			Description: "StorageClass for the platform's volumes",
			Hint:        "mark a StorageClass as default (storageclass.kubernetes.io/is-default-class=true) or set storage.className",
			Run:         checkStorageClass},
		{ID: "ingress-class", Category: "networking", Severity: Fail, DependsOn: api, Docs: "ingress-class",
			Description: "IngressClass of the profile",
			Hint:        "install the profile's ingress controller, or set ingress.className to one the cluster has",
			Applies:     when("ingress.enabled is false", func(t *Target) bool { return t.boolean("ingress", "enabled") }),
			Run:         checkIngressClass},
		{ID: "knative", Category: "platform", Severity: Fail, DependsOn: api, Docs: "knative",
			Description: "Knative Serving installed",
			Hint:        "install Knative Serving (install does it from charts/upstream.yaml), or set apis.mode=deployment",
			Applies:     when("apis.mode is deployment", func(t *Target) bool { return t.str("apis", "mode") == "knative" }),
			Run:         crdCheck("Knative Serving", "services.serving.knative.dev")},
		{ID: "cloudnative-pg", Category: "platform", Severity: Fail, DependsOn: api, Docs: "cloudnative-pg",
			Description: "CloudNativePG operator installed",
			Hint:        "install the CloudNativePG operator (install does it from charts/upstream.yaml), or use postgres.mode=external",
			Applies:     when("postgres.mode is external", func(t *Target) bool { return t.str("postgres", "mode") == "operator" }),
			Run:         crdCheck("CloudNativePG", "clusters.postgresql.cnpg.io", "databases.postgresql.cnpg.io")},
		{ID: "prometheus-operator", Category: "platform", Severity: Fail, DependsOn: api, Docs: "prometheus-operator",
			Description: "Prometheus Operator CRDs for monitoring",
			Hint:        "install kube-prometheus-stack (install does it when monitoring.enabled)",
			Run:         checkPrometheusOperator},
		{ID: "cert-manager", Category: "platform", Severity: Fail, DependsOn: api, Docs: "cert-manager",
			Description: "cert-manager and the issuer of the ingress certificate",
			Hint:        "install cert-manager and create the issuer named in certManager.issuerName",
			Applies:     when("certManager.enabled is false", func(t *Target) bool { return t.boolean("certManager", "enabled") }),
			Run:         checkCertManager},
		{ID: "postgres-external", Category: "external", Severity: Fail, Docs: "postgres-external",
			Description: "external PostgreSQL reachable, credentials working, version 14 or newer, schemas creatable",
			Hint:        "pass the server's admin credentials with --postgres-url (or RESIMATE_POSTGRES_URL) and check the firewall",
			Applies:     when("postgres.mode is operator", func(t *Target) bool { return t.str("postgres", "mode") == "external" }),
			Run:         checkExternalPostgres},
		{ID: "vault-external", Category: "external", Severity: Fail, Docs: "vault-external",
			Description: "external Vault reachable, initialised and unsealed",
			Hint:        "check vault.external.address, and initialise and unseal Vault",
			Applies:     when("vault.mode is bundled", func(t *Target) bool { return t.str("vault", "mode") == "external" }),
			Run:         checkExternalVault},
		{ID: "namespace", Category: "cluster", Severity: Fail, DependsOn: api, Docs: "namespace",
			Description: "namespace state: an existing install, or leftovers of a failed one",
			Hint:        "run install again to converge the failed release, or uninstall it first",
			Run:         checkNamespace},
		{ID: "pod-security", Category: "security", Severity: Fail, DependsOn: api, Docs: "pod-security",
			Description: "the namespace's PodSecurity level admits the chart's pods",
			Hint:        "label the namespace pod-security.kubernetes.io/enforce=restricted (or a looser level)",
			Run:         checkPodSecurity},
		{ID: "cloud", Category: "cluster", Severity: Warn, DependsOn: []string{idAPI, idNodes}, Docs: "cloud",
			Description: "the nodes' cloud matches the profile",
			Hint:        "choose the profile of the cluster's cloud (--profile)",
			Run:         checkCloud},
		{ID: "clock-skew", Category: "cluster", Severity: Warn, DependsOn: api, Docs: "clock-skew",
			Description: "this machine's clock agrees with the API server's (within 30 s)",
			Hint:        "synchronise this machine's clock (NTP): tokens and certificates are time-bound",
			Run:         checkClockSkew},
		{ID: "dns", Category: "external", Severity: Warn, Docs: "dns",
			Description: "the platform's domain resolves",
			Hint:        "create DNS records for global.domain and auth.<domain> pointing at the ingress",
			Run:         checkDNS},
		{ID: "smtp", Category: "external", Severity: Warn, Docs: "smtp",
			Description: "the SMTP server for campaigns and Kratos' mail is reachable",
			Hint:        "set apis.campaigns.smtp.host and .port to a server this network can reach",
			Applies:     when("the campaigns API is disabled", func(t *Target) bool { return t.boolean("apis", "campaigns", "enabled") }),
			Run:         checkSMTP},
		{ID: "registry", Category: "external", Severity: Warn, Docs: "registry",
			Description: "the registries of the chart's images are reachable from this machine",
			Hint:        "allow HTTPS to the registries, or mirror the images and set global.imageRegistry",
			Applies:     when("--offline", func(t *Target) bool { return !t.Offline }),
			Run:         checkRegistries},
	}
}

// when builds an Applies function with the reason for skipping.
func when(skipReason string, applies func(*Target) bool) func(*Target) (bool, string) {
	return func(t *Target) (bool, string) {
		if applies(t) {
			return true, ""
		}
		return false, "not needed: " + skipReason
	}
}
