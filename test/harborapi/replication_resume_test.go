package harborapi

import (
	"net/url"
	"strings"
	"testing"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/goharbor/go-client/pkg/harbor"
	v2client "github.com/goharbor/go-client/pkg/sdk/v2.0/client"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/replication"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/test/berthproc"
	"github.com/berth-registry/berth/test/distserver"
)

// clientOf is Harbor's client for the berth at base, as the
// administrator.
func clientOf(t testing.TB, base string) *v2client.HarborAPI {
	t.Helper()
	u, err := url.Parse(base + v2client.DefaultBasePath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := harbor.Config{URL: u, Transport: recorder{loopback}, AuthInfo: httptransport.BasicAuth("admin", adminPassword)}
	return v2client.New(cfg.ToV2Config())
}

// TestReplicationResumes: a berth killed (SIGKILL) in the middle of an
// execution resumes it when it starts again, once the lease has
// expired: the task done before is not run again, the other completes.
func TestReplicationResumes(t *testing.T) {
	dist := distserver.Start(t, distserver.Options{})
	small, _ := random.Image(1024, 1)
	big, _ := random.Image(2<<20, 1)
	for ref, img := range map[string]v1.Image{"up/a:v1": small, "up/b:v1": big} {
		if err := remote.Write(distRef(t, dist, ref), img, remote.WithTransport(loopback)); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	env := []string{"BERTH_ADMIN_PASSWORD=" + adminPassword}
	b1 := berthproc.StartEnv(t, dir, env, "--auth=true")
	c := clientOf(t, b1.URL)
	regID := newRegistry(t, c, "docker-registry", dist.URL(), "", "")
	speed, zero := int32(256), int8(0)
	into := unique("resumed")
	id := newPolicy(t, c, &models.ReplicationPolicy{SrcRegistry: &models.Registry{ID: regID}, DestNamespace: into,
		DestNamespaceReplaceCount: &zero, Speed: &speed, Trigger: &models.ReplicationTrigger{Type: "manual"},
		Filters: []*models.ReplicationFilter{{Type: "name", Value: "up/**"}}})
	eid := idAfter(t, must(c.Replication.StartReplication(ctx(t), replication.NewStartReplicationParams().
		WithExecution(&models.StartReplicationExecution{PolicyID: id})))(t).Location, "/api/v2.0/replication/executions/")
	awaitFor(t, 20*time.Second, func() (bool, string) {
		x := must(c.Replication.GetReplicationExecution(ctx(t), replication.NewGetReplicationExecutionParams().WithID(eid)))(t).Payload
		return x.Succeed == 1 && x.InProgress == 1, dump(x)
	})
	b1.Kill()

	b2 := berthproc.StartEnv(t, dir, env, "--auth=true")
	c = clientOf(t, b2.URL)
	var x *models.ReplicationExecution
	awaitFor(t, 90*time.Second, func() (bool, string) { // the lease (30s) expires, then b copies (8s)
		x = must(c.Replication.GetReplicationExecution(ctx(t), replication.NewGetReplicationExecutionParams().WithID(eid)))(t).Payload
		return x.Status != "InProgress", dump(x)
	})
	if x.Status != "Succeed" || x.Succeed != 2 || x.Total != 2 {
		t.Fatalf("resumed execution: %s", dump(x))
	}
	tasks := must(c.Replication.ListReplicationTasks(ctx(t), replication.NewListReplicationTasksParams().WithID(eid)))(t).Payload
	for _, task := range tasks {
		log := must(c.Replication.GetReplicationLog(ctx(t), replication.NewGetReplicationLogParams().WithID(eid).WithTaskID(task.ID)))(t).Payload
		if n := strings.Count(log, "] done"); n != 1 {
			t.Errorf("task %s done %d times:\n%s", task.SrcResource, n, log)
		}
	}
}
