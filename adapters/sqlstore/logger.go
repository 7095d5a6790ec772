package sqlstore

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-sql-driver/mysql"
)

// driverLog is where the MySQL driver's own messages go. The driver keeps one logger per
// process in a plain variable, so it is set once (installDriverLogger) and every later change
// goes through this pointer: setting the driver's variable again while another database of the
// same process is logging would be a data race.
var (
	driverLog           atomic.Pointer[slog.Logger]
	installDriverLogger sync.Once
)

// driverLogger routes the MySQL driver's own messages (a broken connection it drops and dials
// again, a malformed packet) into the service log at debug: the error that matters reaches the
// caller, and the retries are noise at info.
type driverLogger struct{}

func (driverLogger) Print(v ...any) {
	if log := driverLog.Load(); log != nil {
		log.Debug(strings.TrimSpace(fmt.Sprint(v...)), "component", "mysql-driver")
	}
}

// useLogger sends the MySQL driver's package-wide log to log (the driver keeps one logger per
// process; every database of a Portcullis process shares its log, the last one given).
func useLogger(log *slog.Logger) {
	if log == nil {
		return
	}
	driverLog.Store(log)
	installDriverLogger.Do(func() { _ = mysql.SetLogger(driverLogger{}) })
}
