package sqlstore

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// driverLogger routes the MySQL driver's own messages (a broken connection it drops and dials
// again, a malformed packet) into the service log at debug: the error that matters reaches the
// caller, and the retries are noise at info.
type driverLogger struct{ log *slog.Logger }

func (l driverLogger) Print(v ...any) {
	l.log.Debug(strings.TrimSpace(fmt.Sprint(v...)), "component", "mysql-driver")
}

// useLogger sends the MySQL driver's package-wide log to log (the driver keeps one logger per
// process; every database of a Portcullis process shares its log).
func useLogger(log *slog.Logger) {
	if log != nil {
		_ = mysql.SetLogger(driverLogger{log: log})
	}
}
