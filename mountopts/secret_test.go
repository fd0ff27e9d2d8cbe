package mountopts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestSecretRedaction(t *testing.T) {
	const pw = "hunter2"
	s := Secret(pw)
	if s.Reveal() != pw {
		t.Fatal("Reveal lost the password")
	}
	for _, format := range []string{"%v", "%s", "%+v", "%#v", "%q", "%x", "%X", "%d", "%10s", "%-8v"} {
		got := fmt.Sprintf(format, s)
		if strings.Contains(got, pw) || strings.Contains(got, fmt.Sprintf("%x", pw)) || !strings.Contains(got, "****") {
			t.Errorf("Sprintf(%q) = %q", format, got)
		}
	}
	if got := fmt.Sprint(s); got != "****" {
		t.Errorf("Sprint = %q", got)
	}
	if got := fmt.Sprintf("%#v", s); got != `"****"` {
		t.Errorf("%%#v = %q", got)
	}
	if got := fmt.Sprintf("%v|%s|%#v", Secret(""), Secret(""), Secret("")); got != `||""` {
		t.Errorf("empty secret prints %q", got)
	}

	// Inside a Config, through every printer and logger.
	c, err := Parse("ftps://alice:"+pw+"@host/", nil, Env{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		l := slog.New(h)
		l.Info("login", "password", c.Password, "config", c, "ptr", &c.Password)
		l.Info("group", slog.Group("g", slog.Any("pw", c.Password)))
	}
	fmt.Fprintf(&buf, "%v %+v %#v %s\n", c, c, c, c.Password)
	fmt.Fprintln(&buf, *c, c.Password)
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	buf.Write(j)
	if strings.Contains(buf.String(), pw) {
		t.Errorf("password leaked:\n%s", buf.String())
	}
	if !strings.Contains(buf.String(), "****") {
		t.Errorf("no redaction marker:\n%s", buf.String())
	}
}
