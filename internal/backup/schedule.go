package backup

import (
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

// Schedule is an in-cluster backup: a CronJob that runs resimatectl's image under a
// ServiceAccount allowed only what a backup of this release reads, in its namespace.
type Schedule struct {
	Namespace, Release string
	Cron               string
	Image              string
	Store              string
	Recipients         []string
	Retention          string
	// StoreSecret holds the store's credentials as environment variables (AWS_*, AZURE_*, ...).
	StoreSecret string
	// VaultTokenSecret holds a Vault token under the key "token"; without it Vault is left out.
	VaultTokenSecret string
}

// Name is the name of every object of the schedule.
func (s Schedule) Name() string { return s.Release + "-backup" }

func (s Schedule) meta() metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: s.Name(), Namespace: s.Namespace, Labels: map[string]string{
		"app.kubernetes.io/name": "backup", "app.kubernetes.io/instance": s.Release,
		"app.kubernetes.io/part-of": "resimate", "app.kubernetes.io/managed-by": "resimatectl"}}
}

// Rules are the ServiceAccount's rights, all in the release's namespace: the Helm release and
// the database logins (Secrets: Helm lists them by label, so list cannot be narrowed to names),
// the Vault StatefulSet and its TLS CA, and port-forwards to the database and Vault pods.
var scheduleRules = []rbacv1.PolicyRule{
	{APIGroups: []string{""}, Resources: []string{"secrets", "configmaps"}, Verbs: []string{"get", "list"}},
	{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}},
	{APIGroups: []string{""}, Resources: []string{"pods/portforward"}, Verbs: []string{"create"}},
	{APIGroups: []string{"apps"}, Resources: []string{"statefulsets"}, Verbs: []string{"get"}},
}

// Objects are the schedule's Kubernetes objects, in the order they are applied.
func (s Schedule) Objects() []runtime.Object {
	sa := &corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}, ObjectMeta: s.meta()}
	role := &rbacv1.Role{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"}, ObjectMeta: s.meta(), Rules: scheduleRules}
	binding := &rbacv1.RoleBinding{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"}, ObjectMeta: s.meta(),
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: s.Name()},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: s.Name(), Namespace: s.Namespace}}}
	// The namespace denies all traffic by default: the backup reaches the API server, the
	// database, Vault and the store, wherever they are; nothing reaches it.
	policy := &networkingv1.NetworkPolicy{TypeMeta: metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"}, ObjectMeta: s.meta(),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "backup", "app.kubernetes.io/instance": s.Release}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			Egress:      []networkingv1.NetworkPolicyEgressRule{{}}}}
	return []runtime.Object{sa, role, binding, policy, s.cronJob()}
}

func (s Schedule) cronJob() *batchv1.CronJob {
	create := []string{"backup", "create", "-n", s.Namespace, "--release", s.Release, "--to", s.Store, "--parts", "cluster,db,identities"}
	var env []corev1.EnvVar
	if s.VaultTokenSecret != "" {
		create[len(create)-1] = "cluster,db,identities,vault"
		env = append(env, corev1.EnvVar{Name: "VAULT_TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: s.VaultTokenSecret}, Key: "token"}}})
	}
	for _, r := range s.Recipients {
		create = append(create, "--recipient", r)
	}
	// HOME on the writable scratch volume: the Kubernetes client caches discovery there.
	env = append(env, corev1.EnvVar{Name: "HOME", Value: "/tmp"})
	var envFrom []corev1.EnvFromSource
	if s.StoreSecret != "" {
		envFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: s.StoreSecret}}}}
	}
	container := func(name string, args []string) corev1.Container {
		return corev1.Container{Name: name, Image: s.Image, Args: args, Env: env, EnvFrom: envFrom,
			VolumeMounts: []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}},
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
				Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}},
			SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
				RunAsNonRoot: ptr.To(true), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}}
	}
	meta := s.meta()
	return &batchv1.CronJob{TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"}, ObjectMeta: meta,
		Spec: batchv1.CronJobSpec{Schedule: s.Cron, ConcurrencyPolicy: batchv1.ForbidConcurrent,
			SuccessfulJobsHistoryLimit: ptr.To[int32](3), FailedJobsHistoryLimit: ptr.To[int32](3),
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{BackoffLimit: ptr.To[int32](1),
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: meta.Labels},
					Spec: corev1.PodSpec{ServiceAccountName: s.Name(), RestartPolicy: corev1.RestartPolicyNever,
						SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65532)},
						// The backup first; the prune only after it succeeded.
						InitContainers: []corev1.Container{container("backup", create)},
						Containers:     []corev1.Container{container("prune", []string{"backup", "prune", "--store", s.Store, "--retention", s.Retention})},
						Volumes:        []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}}}}}}}
}
