package realpods_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/resimate/resimatectl/internal/testenv"
)

// checkScheduledBackup: backup schedule's CronJob runs as a real pod, resimatectl's image
// under the schedule's ServiceAccount, Role and NetworkPolicy, and writes a complete set to a
// store that this machine's backup verify accepts.
func checkScheduledBackup(t *testing.T, p *platform) {
	ctx := context.Background()
	bucket := p.rp.S3Bucket(t)
	creds := map[string]string{}
	for _, kv := range bucket.Env {
		k, v, _ := strings.Cut(kv, "=")
		creds[k] = v
	}
	_, err := p.rp.Client.CoreV1().Secrets(p.ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "backup-store"},
		StringData: creds}, metav1.CreateOptions{})
	require.NoError(t, err)
	p.mustRun(t, "backup", "schedule", "-n", p.ns, "--cron", "0 2 * * *", "--retention", "14d", "--to", bucket.URL,
		"-r", p.keys.Recipient, "--image", p.rp.Image("resimate/resimatectl:testenv"), "--store-secret", "backup-store")

	// Now rather than at 02:00: a Job from the CronJob's template, as `kubectl create job --from` makes.
	cj, err := p.rp.Client.BatchV1().CronJobs(p.ns).Get(ctx, "resimate-backup", metav1.GetOptions{})
	require.NoError(t, err)
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "resimate-backup-now", Labels: cj.Spec.JobTemplate.Labels},
		Spec: cj.Spec.JobTemplate.Spec}
	_, err = p.rp.Client.BatchV1().Jobs(p.ns).Create(ctx, job, metav1.CreateOptions{})
	require.NoError(t, err)
	var done *batchv1.Job
	testenv.Eventually(t, 4*time.Minute, "the backup Job to finish", func() (bool, error) {
		done, err = p.rp.Client.BatchV1().Jobs(p.ns).Get(ctx, job.Name, metav1.GetOptions{})
		return err == nil && (done.Status.Succeeded > 0 || done.Status.Failed > 0), err
	})
	require.EqualValues(t, 1, done.Status.Succeeded, "the backup pod failed:\n%s", jobLogs(t, p, job.Name))

	list := testenv.Run(t, p.rp.Kubeconfig, bucket.Env, "backup", "list", "--store", bucket.URL, "-o", "json")
	require.Equal(t, 0, list.Code, list.Stderr)
	var sets []struct {
		ID       string `json:"id"`
		Complete bool   `json:"complete"`
	}
	require.NoError(t, json.Unmarshal([]byte(list.Stdout), &sets), list.Stdout)
	require.Len(t, sets, 1, list.Stdout)
	assert.True(t, sets[0].Complete, list.Stdout)
	verify := testenv.Run(t, p.rp.Kubeconfig, bucket.Env, "backup", "verify", sets[0].ID, "--store", bucket.URL, "-i", p.keys.Identity)
	assert.Equal(t, 0, verify.Code, verify.Stdout+verify.Stderr)
}

// jobLogs are the logs of every container of the Job's pods, for a failure's message.
func jobLogs(t *testing.T, p *platform, job string) string {
	pods, err := p.rp.Client.CoreV1().Pods(p.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "job-name=" + job})
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, pod := range pods.Items {
		for _, c := range []string{"backup", "prune"} {
			raw, err := p.rp.Client.CoreV1().Pods(p.ns).GetLogs(pod.Name, &corev1.PodLogOptions{Container: c}).DoRaw(context.Background())
			b.WriteString(pod.Name + "/" + c + ":\n" + string(raw))
			if err != nil {
				b.WriteString(err.Error())
			}
		}
	}
	return b.String()
}
