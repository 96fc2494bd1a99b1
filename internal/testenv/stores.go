package testenv

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The test stores' credentials: versitygw's root keys as up.sh starts it, and Azurite's
// published development account.
const (
	s3AccessKey    = "testenv-access"
	s3SecretKey    = "testenv-secret"
	azuriteAccount = "devstoreaccount1"
	azuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// Bucket is a fresh bucket (or container) in one of the test's object stores: its gocloud URL,
// and the environment a process needs to reach it (credentials, emulator addresses).
type Bucket struct {
	Kind string
	URL  string
	Env  []string
}

// Setenv sets the bucket's environment for this test process.
func (b Bucket) Setenv(t testing.TB) {
	for _, kv := range b.Env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

func bucketName() string { return strings.ToLower(UniqueName("bk")) }

// S3Bucket creates a bucket in versitygw.
func S3Bucket(t testing.TB) Bucket {
	t.Helper()
	return s3Bucket(t, Require(t, S3).S3Endpoint)
}

func s3Bucket(t testing.TB, endpoint string) Bucket {
	t.Helper()
	name := bucketName()
	client := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(s3AccessKey, s3SecretKey, "")})
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("creating S3 bucket %s: %v", name, err)
	}
	q := url.Values{"endpoint": {endpoint}, "region": {"us-east-1"}, "use_path_style": {"true"}, "disable_https": {"true"}}
	return Bucket{Kind: "s3", URL: "s3://" + name + "?" + q.Encode(),
		Env: []string{"AWS_ACCESS_KEY_ID=" + s3AccessKey, "AWS_SECRET_ACCESS_KEY=" + s3SecretKey, "AWS_REGION=us-east-1"}}
}

// GCSBucket creates a bucket in fake-gcs-server.
func GCSBucket(t testing.TB) Bucket {
	t.Helper()
	e := Require(t, GCS)
	name := bucketName()
	resp, err := http.Post("http://"+e.GCSHost+"/storage/v1/b?project=test", "application/json",
		bytes.NewReader([]byte(fmt.Sprintf(`{"name": %q}`, name))))
	if err != nil {
		t.Fatalf("creating GCS bucket %s: %v", name, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("creating GCS bucket %s: %s", name, resp.Status)
	}
	return Bucket{Kind: "gcs", URL: "gs://" + name, Env: []string{"STORAGE_EMULATOR_HOST=" + e.GCSHost}}
}

// AzureContainer creates a container in Azurite.
func AzureContainer(t testing.TB) Bucket {
	t.Helper()
	e := Require(t, Azurite)
	name := bucketName()
	cred, err := azblob.NewSharedKeyCredential(azuriteAccount, azuriteKey)
	if err != nil {
		t.Fatal(err)
	}
	client, err := azblob.NewClientWithSharedKeyCredential("http://"+e.AzuriteHost+"/"+azuriteAccount, cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateContainer(context.Background(), name, nil); err != nil {
		t.Fatalf("creating Azure container %s: %v", name, err)
	}
	return Bucket{Kind: "azure", URL: "azblob://" + name + "?" + url.Values{"protocol": {"http"}, "domain": {e.AzuriteHost}, "localemu": {"true"}}.Encode(),
		Env: []string{"AZURE_STORAGE_ACCOUNT=" + azuriteAccount, "AZURE_STORAGE_KEY=" + azuriteKey}}
}
