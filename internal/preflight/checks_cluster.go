package preflight

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	release "helm.sh/helm/v4/pkg/release/v1"
	helmstorage "helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"

	"github.com/resimate/resimatectl/internal/errtext"
)

func checkAPI(ctx context.Context, t *Target) Outcome {
	if t.RESTConfig == nil {
		return Failf("no cluster configuration: %v", t.ConfigErr)
	}
	v, err := t.Kube.Discovery().ServerVersion()
	if err != nil {
		return Failf("cannot reach the API server at %s: %v", t.RESTConfig.Host, shortErr(err))
	}
	review, err := t.Kube.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		if apierrors.IsUnauthorized(err) {
			return Failf("the API server at %s rejected the credentials (401 Unauthorized)", t.RESTConfig.Host)
		}
		return Failf("the API server at %s did not say who you are: %v", t.RESTConfig.Host, shortErr(err))
	}
	return Passf("%s answers (Kubernetes %s) and knows you as %s", t.RESTConfig.Host, v.GitVersion, review.Status.UserInfo.Username)
}

func checkVersion(ctx context.Context, t *Target) Outcome {
	v, err := t.Kube.Discovery().ServerVersion()
	if err != nil {
		return Failf("cannot read the server version: %v", shortErr(err))
	}
	minor, err := strconv.Atoi(strings.TrimRight(v.Minor, "+"))
	if err != nil || v.Major != "1" {
		return Failf("unrecognised server version %s (major %q, minor %q)", v.GitVersion, v.Major, v.Minor)
	}
	if minor < MinKubeMinor || minor > MaxKubeMinor {
		return Failf("Kubernetes %s is outside the supported range 1.%d to 1.%d", v.GitVersion, MinKubeMinor, MaxKubeMinor)
	}
	return Passf("Kubernetes %s is supported (1.%d to 1.%d)", v.GitVersion, MinKubeMinor, MaxKubeMinor)
}

// eligibleNodes are the nodes the platform's pods may land on: Ready, schedulable, matching
// global.nodeSelector and tolerating their taints.
func eligibleNodes(t *Target, nodes []corev1.Node) (eligible []corev1.Node, reasons map[string]int) {
	selector := labels.SelectorFromSet(labels.Set(stringMap(t.value("global", "nodeSelector"))))
	tolerations := tolerationsOf(t)
	reasons = map[string]int{}
	for _, n := range nodes {
		switch {
		case !nodeReady(n):
			reasons["not Ready"]++
		case n.Spec.Unschedulable:
			reasons["cordoned"]++
		case !selector.Matches(labels.Set(n.Labels)):
			reasons["not matching global.nodeSelector"]++
		case !toleratesAll(tolerations, n.Spec.Taints):
			reasons["tainted"]++
		default:
			eligible = append(eligible, n)
		}
	}
	return eligible, reasons
}

func checkNodes(ctx context.Context, t *Target) Outcome {
	nodes, err := t.Nodes(ctx)
	if err != nil {
		return Failf("cannot list nodes: %v", shortErr(err))
	}
	eligible, reasons := eligibleNodes(t, nodes)
	excluded := describeCounts(reasons)
	if len(eligible) == 0 {
		return Failf("none of the %d nodes can run the platform's pods%s", len(nodes), excluded)
	}
	return Passf("%d of %d nodes are Ready and schedulable for the platform%s", len(eligible), len(nodes), excluded)
}

func checkCapacity(ctx context.Context, t *Target) Outcome {
	nodes, err := t.Nodes(ctx)
	if err != nil {
		return Failf("cannot list nodes: %v", shortErr(err))
	}
	eligible, _ := eligibleNodes(t, nodes)
	pods, err := t.Kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "status.phase!=Succeeded,status.phase!=Failed"})
	if err != nil {
		return Failf("cannot list pods to see what the nodes already run: %v", shortErr(err))
	}
	used := map[string]corev1.ResourceList{}
	for _, p := range pods.Items {
		if p.Spec.NodeName == "" {
			continue
		}
		cpu, mem := podRequests(p.Spec)
		u := used[p.Spec.NodeName]
		if u == nil {
			u = corev1.ResourceList{corev1.ResourceCPU: resource.Quantity{}, corev1.ResourceMemory: resource.Quantity{}}
			used[p.Spec.NodeName] = u
		}
		addTo(u, corev1.ResourceCPU, cpu)
		addTo(u, corev1.ResourceMemory, mem)
	}

	var needCPU, needMem, freeCPU, freeMem resource.Quantity
	var biggest workload
	var biggestCPU, biggestMem resource.Quantity
	podCount := int64(0)
	for _, w := range workloads(t.Rendered) {
		cpu, mem := w.requests()
		if cpu.Cmp(biggestCPU) > 0 || (cpu.Cmp(biggestCPU) == 0 && mem.Cmp(biggestMem) > 0) {
			biggest, biggestCPU, biggestMem = w, cpu, mem
		}
		if w.Hook {
			continue
		}
		for i := int64(0); i < w.Replicas; i++ {
			needCPU.Add(cpu)
			needMem.Add(mem)
		}
		podCount += w.Replicas
	}
	fits := 0
	for _, n := range eligible {
		fc, fm := free(n, used[n.Name])
		freeCPU.Add(fc)
		freeMem.Add(fm)
		if fc.Cmp(biggestCPU) >= 0 && fm.Cmp(biggestMem) >= 0 {
			fits++
		}
	}
	need := fmt.Sprintf("%d pods need %s CPU and %s memory", podCount, cpuString(needCPU), memString(needMem))
	have := fmt.Sprintf("%d eligible nodes have %s CPU and %s memory free", len(eligible), cpuString(freeCPU), memString(freeMem))
	var problems []string
	if needCPU.Cmp(freeCPU) > 0 {
		problems = append(problems, fmt.Sprintf("CPU short by %s", cpuString(sub(needCPU, freeCPU))))
	}
	if needMem.Cmp(freeMem) > 0 {
		problems = append(problems, fmt.Sprintf("memory short by %s", memString(sub(needMem, freeMem))))
	}
	if fits == 0 && biggest.Name != "" {
		problems = append(problems, fmt.Sprintf("no node has room for the largest pod (%s %s: %s CPU, %s memory)",
			biggest.Kind, biggest.Name, cpuString(biggestCPU), memString(biggestMem)))
	}
	if len(problems) > 0 {
		return Failf("%s; %s: %s", need, have, strings.Join(problems, "; "))
	}
	return Passf("%s; %s", need, have)
}

func checkStorageClass(ctx context.Context, t *Target) Outcome {
	want := t.str("profile", "storageProvisioner")
	name := t.str("storage", "className")
	if name != "" && t.boolean("storage", "createClass", "enabled") {
		return Passf("install creates StorageClass %s", name)
	}
	classes, err := t.Kube.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		return Failf("cannot list StorageClasses: %v", shortErr(err))
	}
	var found, defaults []string
	provisioner := ""
	for _, sc := range classes.Items {
		found = append(found, sc.Name)
		isDefault := sc.Annotations["storageclass.kubernetes.io/is-default-class"] == "true"
		if (name == "" && isDefault) || sc.Name == name {
			defaults = append(defaults, sc.Name)
			provisioner = sc.Provisioner
		}
	}
	switch {
	case name != "" && len(defaults) == 0:
		return Failf("StorageClass %q (storage.className) not found; the cluster has: %s", name, listOrNone(found))
	case len(defaults) == 0:
		return Failf("no default StorageClass; the cluster has: %s", listOrNone(found))
	case want != "" && provisioner != want:
		return Warnf("StorageClass %s uses provisioner %s, not %s as profile %s expects", defaults[0], provisioner, want, t.Profile)
	}
	return Passf("StorageClass %s (provisioner %s)", defaults[0], provisioner)
}

func checkIngressClass(ctx context.Context, t *Target) Outcome {
	name := t.str("ingress", "className")
	classes, err := t.Kube.NetworkingV1().IngressClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		return Failf("cannot list IngressClasses: %v", shortErr(err))
	}
	var found []string
	for _, c := range classes.Items {
		if c.Name == name {
			return Passf("IngressClass %s (controller %s)", name, c.Spec.Controller)
		}
		found = append(found, c.Name)
	}
	return Failf("IngressClass %q (ingress.className) not found; the cluster has: %s", name, listOrNone(found))
}

// crdCheck requires CRDs to exist and be established, or to come with install's upstream
// charts, and reports their served versions and the operator's version when the CRD carries it
// as a label.
func crdCheck(what string, names ...string) func(context.Context, *Target) Outcome {
	return func(ctx context.Context, t *Target) Outcome {
		found, missing, brought, err := t.crdState(ctx, what, names)
		if err != nil {
			return Failf("%v", err)
		}
		if len(missing) > 0 {
			return Failf("%s is not installed: missing CRDs %s", what, strings.Join(missing, ", "))
		}
		if len(brought) > 0 {
			return Passf("%s will be installed by install: %s", what, strings.Join(brought, "; "))
		}
		return Passf("%s installed: %s", what, strings.Join(found, "; "))
	}
}

// crdState sorts names into CRDs found established (described with their versions), missing,
// and not there yet but brought by an upstream chart install will install.
func (t *Target) crdState(ctx context.Context, what string, names []string) (found, missing, brought []string, err error) {
	for _, n := range names {
		crd, err := t.CRD(ctx, n)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("cannot read CRD %s: %v", n, shortErr(err))
		}
		if crd == nil || !established(crd.Status.Conditions) {
			if chart := t.Brought[n]; chart != "" {
				brought = append(brought, n+" (upstream chart "+chart+")")
			} else {
				missing = append(missing, n)
			}
			continue
		}
		var versions []string
		for _, v := range crd.Spec.Versions {
			if v.Served {
				versions = append(versions, v.Name)
			}
		}
		desc := n + " (" + strings.Join(versions, ", ") + ")"
		for _, key := range []string{"app.kubernetes.io/version", "serving.knative.dev/release"} {
			if v := crd.Labels[key]; v != "" {
				desc += " " + what + " " + v
				break
			}
		}
		found = append(found, desc)
	}
	return found, missing, brought, nil
}

func checkPrometheusOperator(ctx context.Context, t *Target) Outcome {
	out := crdCheck("Prometheus Operator", "servicemonitors.monitoring.coreos.com", "podmonitors.monitoring.coreos.com", "prometheusrules.monitoring.coreos.com")(ctx, t)
	if !t.boolean("monitoring", "enabled") && out.Status == StatusFail {
		out.Status = StatusWarn
		out.Message += " (monitoring.enabled is false: the platform runs without metrics)"
	}
	return out
}

func checkCertManager(ctx context.Context, t *Target) Outcome {
	crds := []string{"certificates.cert-manager.io", "clusterissuers.cert-manager.io", "issuers.cert-manager.io"}
	out := crdCheck("cert-manager", crds...)(ctx, t)
	if out.Status != StatusPass {
		return out
	}
	kind, name := t.str("certManager", "issuerKind"), t.str("certManager", "issuerName")
	if _, _, brought, _ := t.crdState(ctx, "cert-manager", crds); len(brought) > 0 {
		return Warnf("cert-manager will be installed by install; create %s %q (certManager.issuerName) then, or the ingress certificate is never issued", kind, name)
	}
	path := "/apis/cert-manager.io/v1/clusterissuers/" + name
	if kind == "Issuer" {
		path = "/apis/cert-manager.io/v1/namespaces/" + t.Namespace + "/issuers/" + name
	}
	err := t.Kube.Discovery().RESTClient().Get().AbsPath(path).Do(ctx).Error()
	if apierrors.IsNotFound(err) {
		return Failf("cert-manager is installed but %s %q (certManager.issuerName) does not exist", kind, name)
	}
	if err != nil {
		return Failf("cannot read %s %q: %v", kind, name, shortErr(err))
	}
	return Passf("cert-manager installed; %s %s exists", kind, name)
}

func checkNamespace(ctx context.Context, t *Target) Outcome {
	ns, err := t.Kube.CoreV1().Namespaces().Get(ctx, t.Namespace, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return Passf("namespace %s does not exist yet: install creates it", t.Namespace)
	}
	if err != nil {
		return Failf("cannot read namespace %s: %v", t.Namespace, shortErr(err))
	}
	if ns.DeletionTimestamp != nil {
		return Failf("namespace %s is being deleted: wait until it is gone", t.Namespace)
	}
	store := helmstorage.Init(driver.NewSecrets(t.Kube.CoreV1().Secrets(t.Namespace)))
	history, err := store.History(t.Release)
	if err != nil && !errors.Is(err, driver.ErrReleaseNotFound) {
		return Failf("cannot read release %s's history in %s: %v", t.Release, t.Namespace, shortErr(err))
	}
	if len(history) == 0 {
		deps, err := t.Kube.AppsV1().Deployments(t.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + t.Release})
		if err == nil && len(deps.Items) > 0 {
			return Failf("namespace %s holds %d objects of %s but no release: leftovers of a failed or manual install", t.Namespace, len(deps.Items), t.Release)
		}
		return Passf("namespace %s exists with no Resimate release", t.Namespace)
	}
	latest := history[0]
	for _, r := range history {
		if rel, ok := r.(*release.Release); ok && rel.Version > latest.(*release.Release).Version {
			latest = r
		}
	}
	rel := latest.(*release.Release)
	desc := fmt.Sprintf("release %s revision %d (chart %s-%s, status %s)", rel.Name, rel.Version, rel.Chart.Metadata.Name, rel.Chart.Metadata.Version, rel.Info.Status)
	switch rel.Info.Status {
	case "deployed":
		return Passf("existing install found: %s: install will upgrade it", desc)
	case "superseded":
		return Passf("existing install found: %s", desc)
	default:
		// install recovers these (a pending revision is cleared, a failed one upgraded).
		return Warnf("a failed or interrupted install was left behind: %s: install will recover it", desc)
	}
}

func checkPodSecurity(ctx context.Context, t *Target) Outcome {
	level, version := api.LevelRestricted, api.LatestVersion()
	source := "restricted (what install sets on a new namespace)"
	ns, err := t.Kube.CoreV1().Namespaces().Get(ctx, t.Namespace, metav1.GetOptions{})
	switch {
	case err == nil:
		if l := ns.Labels[api.EnforceLevelLabel]; l != "" {
			if level, err = api.ParseLevel(l); err != nil {
				return Failf("namespace %s has an invalid %s label %q", t.Namespace, api.EnforceLevelLabel, l)
			}
			if v := ns.Labels[api.EnforceVersionLabel]; v != "" {
				if version, err = api.ParseVersion(v); err != nil {
					return Failf("namespace %s has an invalid %s label %q", t.Namespace, api.EnforceVersionLabel, v)
				}
			}
			source = fmt.Sprintf("%s (namespace %s)", level, t.Namespace)
		} else {
			source = fmt.Sprintf("privileged (namespace %s has no enforce label)", t.Namespace)
			level = api.LevelPrivileged
		}
	case !apierrors.IsNotFound(err):
		return Failf("cannot read namespace %s: %v", t.Namespace, shortErr(err))
	}
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		return Failf("PodSecurity evaluator: %v", err)
	}
	var refused []string
	count := 0
	for _, w := range workloads(t.Rendered) {
		count++
		res := policy.AggregateCheckResults(evaluator.EvaluatePod(api.LevelVersion{Level: level, Version: version}, &w.Meta, &w.Spec))
		if !res.Allowed {
			refused = append(refused, fmt.Sprintf("%s %s: %s", w.Kind, w.Name, res.ForbiddenDetail()))
		}
	}
	if len(refused) > 0 {
		return Outcome{Status: StatusFail, Message: fmt.Sprintf("PodSecurity %s would refuse %d of %d pod templates", source, len(refused), count), Details: refused}
	}
	return Passf("all %d pod templates pass PodSecurity %s", count, source)
}

// checkCloud reads the nodes' provider ids and cloud labels.
func checkCloud(ctx context.Context, t *Target) Outcome {
	nodes, err := t.Nodes(ctx)
	if err != nil {
		return Failf("cannot list nodes: %v", shortErr(err))
	}
	counts := map[string]int{}
	for _, n := range nodes {
		counts[nodeCloud(n)]++
	}
	seen := describeCounts(counts)
	want := t.str("profile", "cloud")
	if want == "any" || want == "" {
		return Passf("profile %s runs anywhere; nodes%s", t.Profile, seen)
	}
	if counts[want] == len(nodes) {
		return Passf("all %d nodes are %s nodes, as profile %s expects", len(nodes), strings.ToUpper(want), t.Profile)
	}
	return Failf("profile %s is made for %s, but the nodes are%s", t.Profile, strings.ToUpper(want), seen)
}

func nodeCloud(n corev1.Node) string {
	switch {
	case strings.HasPrefix(n.Spec.ProviderID, "aws://") || n.Labels["eks.amazonaws.com/nodegroup"] != "":
		return "eks"
	case strings.HasPrefix(n.Spec.ProviderID, "azure://") || n.Labels["kubernetes.azure.com/cluster"] != "":
		return "aks"
	case strings.HasPrefix(n.Spec.ProviderID, "gce://") || n.Labels["cloud.google.com/gke-nodepool"] != "":
		return "gke"
	}
	return "other"
}

// checkClockSkew compares this machine's clock with the Date header of an API server answer,
// allowing for half the round trip.
func checkClockSkew(ctx context.Context, t *Target) Outcome {
	client, err := rest.HTTPClientFor(t.RESTConfig)
	if err != nil {
		return Failf("cannot build an HTTP client: %v", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(t.RESTConfig.Host, "/")+"/version", nil)
	if err != nil {
		return Failf("%v", err)
	}
	sent := t.Now()
	resp, err := client.Do(req)
	if err != nil {
		return Failf("cannot read the API server's clock: %v", shortErr(err))
	}
	resp.Body.Close()
	received := t.Now()
	server, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return Warnf("the API server sent no usable Date header")
	}
	local := sent.Add(received.Sub(sent) / 2)
	skew := local.Sub(server)
	if skew < 0 {
		skew = -skew
	}
	// The header has whole seconds: up to one second of the difference is rounding.
	if skew > 30*time.Second+time.Second {
		return Failf("this machine's clock is %s off the API server's", skew.Round(time.Second))
	}
	return Passf("clocks agree within %s", (skew + time.Second).Round(time.Second))
}

// --- helpers ---------------------------------------------------------------------------------

func nodeReady(n corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func established(conds []apiextensionsv1.CustomResourceDefinitionCondition) bool {
	for _, c := range conds {
		if c.Type == "Established" && c.Status == "True" {
			return true
		}
	}
	return false
}

func tolerationsOf(t *Target) []corev1.Toleration {
	raw, _ := t.value("global", "tolerations").([]any)
	var out []corev1.Toleration
	for _, r := range raw {
		m, _ := r.(map[string]any)
		tol := corev1.Toleration{}
		tol.Key, _ = m["key"].(string)
		op, _ := m["operator"].(string)
		tol.Operator = corev1.TolerationOperator(op)
		tol.Value, _ = m["value"].(string)
		eff, _ := m["effect"].(string)
		tol.Effect = corev1.TaintEffect(eff)
		out = append(out, tol)
	}
	return out
}

func toleratesAll(tolerations []corev1.Toleration, taints []corev1.Taint) bool {
	for i := range taints {
		taint := &taints[i]
		if taint.Effect == corev1.TaintEffectPreferNoSchedule {
			continue
		}
		ok := false
		for j := range tolerations {
			if tolerations[j].ToleratesTaint(klog.Background(), taint, false) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func podRequests(spec corev1.PodSpec) (cpu, mem resource.Quantity) {
	return workload{Spec: spec}.requests()
}

func addTo(l corev1.ResourceList, name corev1.ResourceName, q resource.Quantity) {
	v := l[name]
	v.Add(q)
	l[name] = v
}

func free(n corev1.Node, used corev1.ResourceList) (cpu, mem resource.Quantity) {
	cpu = n.Status.Allocatable.Cpu().DeepCopy()
	mem = n.Status.Allocatable.Memory().DeepCopy()
	if used != nil {
		cpu.Sub(used[corev1.ResourceCPU])
		mem.Sub(used[corev1.ResourceMemory])
	}
	return cpu, mem
}

func sub(a, b resource.Quantity) resource.Quantity {
	out := a.DeepCopy()
	out.Sub(b)
	return out
}

// cpuString prints cores with up to two decimals ("9.35").
func cpuString(q resource.Quantity) string {
	return strconv.FormatFloat(float64(q.MilliValue())/1000, 'f', -1, 64)
}

// memString prints memory in Gi with up to one decimal ("19.5Gi"), or Mi below 1Gi.
func memString(q resource.Quantity) string {
	b := float64(q.Value())
	if b >= 1<<30 {
		return strconv.FormatFloat(float64(int64(b/(1<<30)*10+0.5))/10, 'f', -1, 64) + "Gi"
	}
	return strconv.FormatInt(int64(b/(1<<20)+0.5), 10) + "Mi"
}

func describeCounts(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func stringMap(v any) map[string]string {
	m, _ := v.(map[string]any)
	out := make(map[string]string, len(m))
	for k, val := range m {
		out[k] = fmt.Sprint(val)
	}
	return out
}

// shortErr keeps the first line of an error: client errors can carry whole response bodies.
func shortErr(err error) string { return errtext.FirstLine(err) }
