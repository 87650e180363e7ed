package sigv4_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/opentrail/opentrail/sigv4"
)

// The API front authenticates a request: parse, route on the service, look
// up the secret, hash the body (or take the literal S3 signed instead), verify.
func Example() {
	secrets := map[string]string{"AKIDEXAMPLE": "example-secret"}
	signedAt := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	r := exampleRequest(signedAt)

	a, err := sigv4.Parse(r)
	if err != nil {
		fmt.Println(err)
		return
	}
	secret, ok := secrets[a.AccessKeyID]
	if !ok {
		fmt.Println(sigv4.UnknownKeyError())
		return
	}
	payload, ok := a.PayloadLiteral()
	if !ok {
		body, _ := io.ReadAll(r.Body)
		sum := sha256.Sum256(body)
		payload = hex.EncodeToString(sum[:])
	}
	fmt.Println(a.Service, a.Region, sigv4.Verify(r, a, secret, payload, signedAt.Add(time.Minute)))
	err = sigv4.Verify(r, a, secret, payload, signedAt.Add(20*time.Minute))
	fmt.Println(err.(*sigv4.Error).Kind)
	// Output:
	// cloudtrail us-east-1 <nil>
	// Expired
}

// exampleRequest is a LookupEvents request signed by the AWS SDK, as the
// server receives it.
func exampleRequest(t time.Time) *http.Request {
	body := `{"MaxResults":1}`
	r := httptest.NewRequest("POST", "http://127.0.0.1:8080/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "CloudTrail_20131101.LookupEvents")
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "example-secret"}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), "cloudtrail", "us-east-1", t); err != nil {
		panic(err)
	}
	return r
}
