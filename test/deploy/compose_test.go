// Package deploy checks the deployment files at the top of the repository (docker-compose.yml,
// Dockerfile, Taskfile.yml) against the code: they cannot be run here (no Docker engine), so
// their structure is what is tested.
package deploy

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/portcullis-auth/portcullis/cmd/portcullis/app"
	"github.com/portcullis-auth/portcullis/config"
)

// root is the repository root, two levels up from this package.
const root = "../.."

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type composeFile struct {
	Services map[string]service `yaml:"services"`
}

type service struct {
	Image       string                       `yaml:"image"`
	Build       any                          `yaml:"build"`
	Environment map[string]string            `yaml:"environment"`
	DependsOn   map[string]map[string]string `yaml:"depends_on"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	Ports []string `yaml:"ports"`
}

func compose(t *testing.T) composeFile {
	t.Helper()
	var c composeFile
	if err := yaml.Unmarshal(read(t, "docker-compose.yml"), &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

func TestComposeEnvironmentNamesOnlyKnownSettings(t *testing.T) {
	c := compose(t)
	n := 0
	for name, s := range c.Services {
		for key := range s.Environment {
			if !strings.HasPrefix(key, config.Prefix) {
				continue
			}
			n++
			if !config.Known(key) {
				t.Errorf("service %s sets %s, which is not a setting (see `portcullis config`)", name, key)
			}
		}
	}
	if n == 0 {
		t.Fatal("no PORTCULLIS_* variable in docker-compose.yml")
	}
}

func TestComposeStackIsHealthChecked(t *testing.T) {
	c := compose(t)
	for _, name := range []string{"mysql", "redis", "portcullis"} {
		s, ok := c.Services[name]
		if !ok {
			t.Errorf("no %s service", name)
			continue
		}
		if s.Healthcheck == nil || len(s.Healthcheck.Test) == 0 {
			t.Errorf("service %s has no healthcheck", name)
		}
	}
	if img := c.Services["mysql"].Image; !strings.HasPrefix(img, "mysql:8") {
		t.Errorf("mysql image %q, want MySQL 8", img)
	}
	if img := c.Services["redis"].Image; !strings.HasPrefix(img, "redis:7") {
		t.Errorf("redis image %q, want Redis 7", img)
	}
	p := c.Services["portcullis"]
	if p.Build == nil {
		t.Error("portcullis is not built from the Dockerfile")
	}
	for _, store := range []string{"mysql", "redis"} {
		if cond := p.DependsOn[store]["condition"]; cond != "service_healthy" {
			t.Errorf("portcullis depends on %s with condition %q, want service_healthy", store, cond)
		}
	}
	if hc := p.Healthcheck; hc == nil || !strings.Contains(strings.Join(hc.Test, " "), "portcullis healthcheck") {
		t.Errorf("portcullis healthcheck %v, want the `portcullis healthcheck` command", hc)
	}
	env := p.Environment
	if !strings.HasPrefix(env["PORTCULLIS_DATABASE_URL"], "mysql://") {
		t.Errorf("PORTCULLIS_DATABASE_URL = %q, want a mysql:// URL", env["PORTCULLIS_DATABASE_URL"])
	}
	if !strings.HasPrefix(env["PORTCULLIS_SESSION_STORE"], "redis://redis:") {
		t.Errorf("PORTCULLIS_SESSION_STORE = %q, want redis://redis:...", env["PORTCULLIS_SESSION_STORE"])
	}
	// The whole environment must pass the service's own validation.
	var environ []string
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	if _, err := config.LoadFrom(environ, app.Parsers); err != nil {
		t.Errorf("the portcullis service's environment does not validate:\n%v", err)
	}
	if !containsPort(p.Ports, "8080") {
		t.Errorf("portcullis ports %v, want 8080 published", p.Ports)
	}
}

func containsPort(ports []string, port string) bool {
	for _, p := range ports {
		if strings.HasSuffix(p, ":"+port) || p == port {
			return true
		}
	}
	return false
}

func TestTaskfileHasTheEverydayTasks(t *testing.T) {
	var tf struct {
		Version string `yaml:"version"`
		Tasks   map[string]struct {
			Cmds []any `yaml:"cmds"`
		} `yaml:"tasks"`
	}
	if err := yaml.Unmarshal(read(t, "Taskfile.yml"), &tf); err != nil {
		t.Fatalf("Taskfile.yml: %v", err)
	}
	if tf.Version != "3" {
		t.Errorf("Taskfile version %q, want 3 (go-task v3)", tf.Version)
	}
	for _, name := range []string{"run", "test", "test:integration", "bench", "lint", "migrate", "up", "down"} {
		task, ok := tf.Tasks[name]
		if !ok {
			t.Errorf("Taskfile.yml has no %q task", name)
			continue
		}
		if len(task.Cmds) == 0 {
			t.Errorf("task %q has no cmds", name)
		}
		for i, c := range task.Cmds {
			if s, ok := c.(string); ok && strings.TrimSpace(s) == "" {
				t.Errorf("task %q: cmd %d is empty", name, i)
			}
		}
	}
}

var fromLine = regexp.MustCompile(`(?i)^FROM\s+`)

// TestDockerfileFinalStageIsNonRoot: the last stage sets a USER that is neither root nor uid 0,
// and builds a static binary.
func TestDockerfileFinalStageIsNonRoot(t *testing.T) {
	var stages [][]string // instruction lines of each stage
	sc := bufio.NewScanner(bytes.NewReader(read(t, "Dockerfile")))
	var cont string
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cont += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		line, cont = cont+line, ""
		if fromLine.MatchString(line) {
			stages = append(stages, nil)
		}
		if len(stages) > 0 {
			stages[len(stages)-1] = append(stages[len(stages)-1], line)
		}
	}
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a multi-stage build", len(stages))
	}
	var user string
	var exposes []string
	for _, l := range stages[len(stages)-1] {
		fields := strings.Fields(l)
		switch strings.ToUpper(fields[0]) {
		case "USER":
			user = fields[1]
		case "EXPOSE":
			exposes = append(exposes, fields[1:]...)
		}
	}
	if name, _, _ := strings.Cut(user, ":"); user == "" || name == "root" || name == "0" {
		t.Errorf("final stage USER %q, want a non-root user", user)
	}
	sort.Strings(exposes)
	if !containsPort(exposes, "8080") {
		t.Errorf("final stage exposes %v, want 8080", exposes)
	}
	build := strings.Join(stages[0], "\n")
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath"} {
		if !strings.Contains(build, want) {
			t.Errorf("build stage lacks %s", want)
		}
	}
}
