package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ftpsfs/ftpsfs/cache"
	"github.com/ftpsfs/ftpsfs/pool"
)

// metrics is the Prometheus side of a mount: FUSE operations counted as
// they happen (fusefs.Observer), everything else read from the pool and the
// caches when scraped.
type metrics struct {
	reg     *prometheus.Registry
	ops     *prometheus.CounterVec
	errs    *prometheus.CounterVec
	latency *prometheus.HistogramVec
	remote  *prometheus.HistogramVec
	read    prometheus.Counter
	written prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ftpsfs_fuse_operations_total", Help: "FUSE operations by type.",
		}, []string{"op"}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ftpsfs_fuse_errors_total", Help: "FUSE operations that failed, by type and errno.",
		}, []string{"op", "errno"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ftpsfs_fuse_operation_seconds", Help: "Time to answer FUSE operations.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"op"}),
		remote: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ftpsfs_remote_operation_seconds", Help: "Time of remote FTP operations, by command.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
		}, []string{"op", "result"}),
		read: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ftpsfs_read_bytes_total", Help: "Bytes returned to programs by read().",
		}),
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ftpsfs_written_bytes_total", Help: "Bytes programs passed to write().",
		}),
	}
	// The Go collector's go_goroutines and go_memstats_* show a leak or a
	// growing heap from outside.
	m.reg.MustRegister(m.ops, m.errs, m.latency, m.remote, m.read, m.written, collectors.NewGoCollector())
	return m
}

// watch registers the figures read from the pool and the caches at scrape time.
func (m *metrics) watch(p *pool.Pool, dirs *cache.Dirs, blocks *cache.Blocks) {
	counter := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f)
	}
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ftpsfs_connections_open", Help: "Control connections open now."},
			func() float64 { return float64(p.OpenConns()) }),
		counter("ftpsfs_connections_dialed_total", "Control connections logged in.", func() float64 { return float64(p.Metrics.Dials.Load()) }),
		counter("ftpsfs_reconnects_total", "Control connections dropped as broken and replaced.", func() float64 { return float64(p.Metrics.Discards.Load()) }),
		counter("ftpsfs_remote_retries_total", "Remote operations retried on a fresh connection.", func() float64 { return float64(p.Metrics.Retries.Load()) }),
		counter("ftpsfs_read_resumes_total", "Read streams resumed at their offset after a failure.", func() float64 { return float64(p.Metrics.Resumes.Load()) }),
		counter("ftpsfs_data_connections_total", "Data connections opened.", func() float64 { return float64(p.Metrics.DataConns.Load()) }),
		counter("ftpsfs_preemptions_total", "Background work (read-ahead, prefetch) cut to free a connection for a program's request.",
			func() float64 { return float64(p.Metrics.Preemptions.Load()) }),
		counter("ftpsfs_read_stream_evictions_total", "Idle read streams closed to free a connection.", func() float64 { return float64(p.Metrics.Evictions.Load()) }),
		counter("ftpsfs_spare_reads_total", "Short reads served on a data connection opened ahead.", func() float64 { return float64(p.Metrics.SparePieces.Load()) }),
		counter("ftpsfs_spare_uploads_total", "Uploads sent on a data connection opened ahead.", func() float64 { return float64(p.Metrics.SpareStores.Load()) }),
		counter("ftpsfs_passive_ahead_downloads_total", "Downloads that used a passive port asked for during the previous download (vsftpd).",
			func() float64 { return float64(p.Metrics.PassivesAhead.Load()) }),
		counter("ftpsfs_tls_resume_failures_total", "Data connections whose TLS session did not resume the control connection's.",
			func() float64 { return float64(p.Metrics.ResumeMisses.Load()) }),
		counter("ftpsfs_block_cache_hits_total", "Reads of file blocks served from memory.", func() float64 { return float64(blocks.Stats().Hits) }),
		counter("ftpsfs_block_cache_misses_total", "Reads of file blocks fetched from the server.", func() float64 { return float64(blocks.Stats().Misses) }),
		counter("ftpsfs_dir_cache_hits_total", "Directory lookups served from a cached listing.", func() float64 { return float64(dirs.Stats().Hits) }),
		counter("ftpsfs_dir_cache_misses_total", "Directory lookups that needed a listing.", func() float64 { return float64(dirs.Stats().Misses) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ftpsfs_block_cache_bytes", Help: "Bytes of file content held in memory."},
			func() float64 { return float64(blocks.Stats().Bytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ftpsfs_dir_cache_bytes", Help: "Estimated bytes of directory listings held in memory."},
			func() float64 { return float64(dirs.Stats().Bytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ftpsfs_dir_cache_listings", Help: "Directory listings held in memory."},
			func() float64 { return float64(dirs.Stats().Entries) }),
	)
}

// Op implements fusefs.Observer.
func (m *metrics) Op(op string, errno syscall.Errno, took time.Duration) {
	m.ops.WithLabelValues(op).Inc()
	m.latency.WithLabelValues(op).Observe(took.Seconds())
	if errno != 0 && !(op == "lookup" && errno == syscall.ENOENT) {
		m.errs.WithLabelValues(op, errnoName(errno)).Inc()
	}
}

// Bytes implements fusefs.Observer.
func (m *metrics) Bytes(read, written int) {
	m.read.Add(float64(read))
	m.written.Add(float64(written))
}

// RemoteOp records one remote FTP operation.
func (m *metrics) RemoteOp(op string, took time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.remote.WithLabelValues(op, result).Observe(took.Seconds())
}

func errnoName(e syscall.Errno) string {
	names := map[syscall.Errno]string{syscall.ENOENT: "ENOENT", syscall.EACCES: "EACCES", syscall.EIO: "EIO",
		syscall.ETIMEDOUT: "ETIMEDOUT", syscall.ENOSPC: "ENOSPC", syscall.EROFS: "EROFS", syscall.ENOTEMPTY: "ENOTEMPTY",
		syscall.EEXIST: "EEXIST", syscall.EPERM: "EPERM", syscall.EINVAL: "EINVAL", syscall.EINTR: "EINTR",
		syscall.ENOTDIR: "ENOTDIR", syscall.EISDIR: "EISDIR", syscall.ENOSYS: "ENOSYS", syscall.ENODATA: "ENODATA"}
	if n, ok := names[e]; ok {
		return n
	}
	return "errno" + strconv.Itoa(int(e))
}

// serveMetrics listens on addr before the mount, so a taken port fails the
// command, and serves until ctx ends.
func serveMetrics(ctx context.Context, addr string, m *metrics, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics=%s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	log.Info("serving metrics", "addr", ln.Addr().String())
	return nil
}
