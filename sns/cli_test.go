package sns_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/opentrail/opentrail/internal/clitest"
	"github.com/opentrail/opentrail/sns"
)

// awsCLI runs the AWS CLI against the harness as the owner account and
// decodes its JSON output into out (when not nil).
func awsCLI(tb testing.TB, h *harness, out any, args ...string) {
	tb.Helper()
	clitest.JSON(tb, h.srv.URL, keyOwner, "secret", region, out, args...)
}

func TestCLI(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("the AWS CLI is not installed")
	}
	if testing.Short() {
		t.Skip("the AWS CLI takes a second per command")
	}
	h := mustHarness(t, sns.Options{})
	h.run()
	var created struct{ TopicArn string }
	awsCLI(t, h, &created, "sns", "create-topic", "--name", "t")
	if created.TopicArn != "arn:aws:sns:us-east-1:111122223333:t" {
		t.Fatalf("create-topic = %+v", created)
	}
	var listed struct{ Topics []struct{ TopicArn string } }
	awsCLI(t, h, &listed, "sns", "list-topics")
	if len(listed.Topics) != 1 || listed.Topics[0].TopicArn != created.TopicArn {
		t.Errorf("list-topics = %+v", listed)
	}
	sub := mustSubscriber(t)
	var subscribed struct{ SubscriptionArn string }
	awsCLI(t, h, &subscribed, "sns", "subscribe", "--topic-arn", created.TopicArn, "--protocol", "http", "--notification-endpoint", sub.URL)
	if subscribed.SubscriptionArn != "pending confirmation" {
		t.Errorf("subscribe = %+v", subscribed)
	}
	conf := decode(t, sub.next(t).body)
	var confirmed struct{ SubscriptionArn string }
	awsCLI(t, h, &confirmed, "sns", "confirm-subscription", "--topic-arn", created.TopicArn, "--token", conf["Token"])
	if !strings.HasPrefix(confirmed.SubscriptionArn, created.TopicArn+":") {
		t.Errorf("confirm-subscription = %+v", confirmed)
	}
	var published struct{ MessageId string }
	awsCLI(t, h, &published, "sns", "publish", "--topic-arn", created.TopicArn, "--message", "from the CLI", "--subject", "hi")
	env := decode(t, sub.next(t).body)
	if env["MessageId"] != published.MessageId || env["Message"] != "from the CLI" || env["Subject"] != "hi" {
		t.Errorf("publish delivered %v, want message %s", env, published.MessageId)
	}
	var attrs struct{ Attributes map[string]string }
	awsCLI(t, h, &attrs, "sns", "get-topic-attributes", "--topic-arn", created.TopicArn)
	if attrs.Attributes["SubscriptionsConfirmed"] != "1" {
		t.Errorf("get-topic-attributes = %v", attrs.Attributes)
	}
}
