package e2e

import (
	"strings"
	"testing"
)

// TestPolicies: policy set, list and delete with the real binaries, after pushing the layout they name; bad
// patterns, an unknown layout and a reader token are refused with the server's reasons; on each backend.
func TestPolicies(t *testing.T) { onEachBackend(t, policies) }

func policies(t *testing.T, db backend) {
	d, admin, pa := startShopOn(t, db)
	dir := pa.dir
	reader := &cli{t: t, d: d, dir: dir}
	reader.token = strings.TrimSpace(admin.ok("--plaintext", "token", "create", "--project", "shop", "--role", "reader"))

	pa.ok("keygen", "--out", "owner.pem")
	pa.ok("keygen", "--out", "ci.pem")
	pa.ok("--plaintext", "key", "add", "--pub", "owner.pem.pub", "--owner")
	pa.ok("--plaintext", "key", "add", "--pub", "ci.pem.pub")
	writeSignedLayout(t, dir, "owner.pem", "ci.pem.pub", "one", "release.layout")
	pa.ok("--plaintext", "layout", "push", "--name", "release", "release.layout")

	out := pa.ok("--plaintext", "policy", "set", "--name", "team-images", "--kind", "image",
		"--match", "registry.example.com/team/*", "--layout", "release")
	if !strings.Contains(out, "team-images") || !strings.Contains(out, "need layout release") {
		t.Fatalf("policy set: %s", out)
	}
	pa.ok("--plaintext", "policy", "set", "--project", "shop", "--name", "debs", "--kind", "package",
		"--match", "pkg:deb/acme/*", "--layout", "release")
	pa.ok("--plaintext", "policy", "set", "--name", "conf", "--kind", "file", "--match", "etc/*.conf", "--layout", "release")
	// Replacing keeps one policy of the name.
	pa.ok("--plaintext", "policy", "set", "--name", "conf", "--kind", "file", "--match", "etc/app/*.conf", "--layout", "release")

	list := reader.ok("--plaintext", "policy", "list")
	lines := strings.Split(strings.TrimSpace(list), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "NAME") || strings.Fields(lines[1])[0] != "conf" ||
		strings.Fields(lines[1])[2] != "etc/app/*.conf" || strings.Fields(lines[2])[0] != "debs" ||
		strings.Fields(lines[3])[0] != "team-images" || strings.Fields(lines[3])[3] != "release" {
		t.Fatalf("policy list:\n%s", list)
	}
	images := reader.ok("--plaintext", "policy", "list", "--kind", "image")
	if lines := strings.Split(strings.TrimSpace(images), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[1], "team-images") {
		t.Fatalf("policy list --kind image:\n%s", images)
	}
	if js := reader.ok("--plaintext", "--json", "policy", "list", "--kind", "package"); !strings.Contains(strings.Join(strings.Fields(js), ""), `"match":"pkg:deb/acme/*"`) {
		t.Fatalf("policy list --json:\n%s", js)
	}

	refusals := []struct {
		name  string
		c     *cli
		args  []string
		code  int
		wants []string
	}{
		{"image tag", pa, []string{"--name", "x", "--kind", "image", "--match", "registry.example.com/team/app:1.0", "--layout", "release"},
			1, []string{"INVALID_ARGUMENT", "tag"}},
		{"absolute file", pa, []string{"--name", "x", "--kind", "file", "--match", "/etc/*", "--layout", "release"},
			1, []string{"INVALID_ARGUMENT", "absolute"}},
		{"unknown layout", pa, []string{"--name", "x", "--kind", "file", "--match", "x", "--layout", "staging"},
			1, []string{"NOT_FOUND", `layout "staging" not found`}},
		{"reader", reader, []string{"--name", "x", "--kind", "file", "--match", "x", "--layout", "release"},
			1, []string{"PERMISSION_DENIED", "may not set policies"}},
		{"bad kind", pa, []string{"--name", "x", "--kind", "binary", "--match", "x", "--layout", "release"},
			2, []string{"--kind"}},
		{"missing layout", pa, []string{"--name", "x", "--kind", "file", "--match", "x"},
			2, []string{"--layout is required"}},
	}
	for _, rc := range refusals {
		r := rc.c.run(append([]string{"--plaintext", "policy", "set"}, rc.args...)...)
		if r.code != rc.code {
			t.Fatalf("%s: exit %d, want %d\n%s", rc.name, r.code, rc.code, r.stderr)
		}
		for _, w := range rc.wants {
			if !strings.Contains(r.stderr, w) {
				t.Fatalf("%s: stderr does not mention %q:\n%s", rc.name, w, r.stderr)
			}
		}
	}

	if out := pa.ok("--plaintext", "policy", "delete", "--name", "debs"); !strings.Contains(out, "deleted policy debs") {
		t.Fatalf("policy delete: %s", out)
	}
	r := pa.run("--plaintext", "policy", "delete", "--name", "debs")
	if r.code != 1 || !strings.Contains(r.stderr, "NOT_FOUND") {
		t.Fatalf("second delete: exit %d\n%s", r.code, r.stderr)
	}
	if list := reader.ok("--plaintext", "policy", "list"); strings.Contains(list, "debs") || !strings.Contains(list, "team-images") {
		t.Fatalf("policy list after delete:\n%s", list)
	}
}
