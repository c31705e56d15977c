package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestDockerAccessControl drives docker against berth with access control:
// a developer pushes and pulls, a guest and a pull-only robot pull but are
// denied a push, a push robot pushes, anonymous callers pull from the public
// project only, and a disabled user cannot log in. Each step also checks
// the registry's state as the administrator.
func TestDockerAccessControl(t *testing.T) {
	c := dockerClient(t)
	srv := registry(t, mode{auth: true})
	srv.use(c)
	const path = "acl/app"
	ref, public := srv.ref(path), srv.Addr+"/library/acl-e2e"
	src := "berth-e2e-acl:" + strings.ReplaceAll(srv.Addr, ":", "-") // the local image every tag comes from
	t.Cleanup(func() {
		_, _ = c.runErr(time.Minute, nil, "rmi", "-f", src, ref+":dev", ref+":guest", ref+":reader", ref+":robot", public+":v1")
	})
	c.run("import", "-c", `ENTRYPOINT ["/hello"]`, "-c", "LABEL berth-e2e=1", c.write("layer.tar", newImage(t, "amd64").layerTar), src)
	push := func(c *client, to string) func() (string, error) {
		return func() (string, error) {
			c.run("tag", src, to)
			return c.runErr(cmdTimeout, nil, "push", to)
		}
	}
	// pull removes the local tag first, so the engine asks the registry.
	pull := func(c *client, from string) (string, error) {
		_, _ = c.runErr(time.Minute, nil, "rmi", from)
		return c.runErr(cmdTimeout, nil, "pull", from)
	}
	wantTags := func(c *client, want ...string) {
		if got := srv.tags(c.t, srv.repo(path)); !slices.Equal(got, want) {
			c.t.Fatalf("tags of %s: %v, want %v", srv.repo(path), got, want)
		}
	}

	c.step("access control: developer pushes and pulls", func(c *client) {
		if out, err := push(c, ref+":dev")(); err != nil {
			c.t.Fatalf("push: %v\n%s", err, out)
		}
		wantTags(c, "dev")
		if out, err := pull(c, ref+":dev"); err != nil {
			c.t.Fatalf("pull: %v\n%s", err, out)
		}
	})
	for _, who := range []struct {
		role string
		a    account
		tag  string
	}{{"guest", guest, "guest"}, {"pull-only robot", readerRobot, "reader"}} {
		c.step("access control: "+who.role+" pulls, push denied", func(c *client) {
			srv.as(c, who.a)
			if out, err := pull(c, ref+":dev"); err != nil {
				c.t.Fatalf("pull: %v\n%s", err, out)
			}
			srv.deniedPush(c, path, who.tag, push(c, ref+":"+who.tag))
			wantTags(c, "dev")
		})
	}
	c.step("access control: push robot pushes", func(c *client) {
		srv.as(c, pusherRobot)
		if out, err := push(c, ref+":robot")(); err != nil {
			c.t.Fatalf("push: %v\n%s", err, out)
		}
		wantTags(c, "dev", "robot")
	})
	c.step("access control: anonymous pulls the public project only", func(c *client) {
		srv.as(c, admin)
		if out, err := push(c, public+":v1")(); err != nil {
			c.t.Fatalf("push to library as admin: %v\n%s", err, out)
		}
		c.run("logout", srv.Addr)
		out, err := pull(c, ref+":dev")
		if err == nil {
			c.t.Fatalf("anonymous pull from the private project succeeded:\n%s", out)
		}
		mustBeDenied(c.t, out)
		if out, err := pull(c, public+":v1"); err != nil {
			c.t.Fatalf("anonymous pull from the public project: %v\n%s", err, out)
		}
	})
	c.step("access control: an administrator's push into a missing project says why", func(c *client) {
		srv.as(c, admin)
		out, err := push(c, srv.Addr+"/nosuch/app:v1")()
		if err == nil {
			c.t.Fatalf("push into a missing project succeeded:\n%s", out)
		}
		mustContain(c.t, out, `project "nosuch" does not exist`)
		c.run("logout", srv.Addr)
	})
	c.step("access control: disabled user cannot log in", func(c *client) {
		out, err := srv.login(c, disabledUser)
		if err == nil {
			c.t.Fatalf("docker login as a disabled user succeeded:\n%s", out)
		}
		mustContain(c.t, strings.ToLower(out), "unauthorized")
		wantTags(c, "dev", "robot")
	})
}
