// Package pool owns the conversation with an FTPS server: dialing (explicit,
// implicit, or plain FTP only when asked), the TLS configuration (roots, CA
// file, SHA-256 pins, client certificates, version bounds, per-connection
// session caches so data connections resume their control connection's
// session), login, a bounded pool of control connections with health checks,
// reconnects and retries, the translation of FTP replies into Go errors, and
// the remote operations the filesystem needs (List, resumable reads, ...).
//
// It knows nothing of FUSE or of caches.
//
// jlaffaye/ftp does the FTP conversation; what it lacks (SITE CHMOD, AVBL,
// MLST with every fact, RNFR and RNTO as separate steps, the modes in a
// listing) is added on the same connection: raw.go sends commands through
// the library's own text connection, and modes.go reads the listing's
// bytes as its data connection delivers them. Both rely on one rule: a
// conn has one owner at a time (the goroutine it is lent to), and only
// that owner talks on it, between whole command/reply exchanges.
// pipeline.go sends a Stat's commands in one write and takes each reply
// only if it can answer its command (213 to SIZE and MDTM, 250 to CWD, or
// a refusal); any other reply, or one left over once all are read, means
// the connection is out of step, and it is dropped.
//
// A listing still arriving gives its entries early (listpartial.go) to a
// sink its context carries (package pool/arriving): each line the sniffer
// sees is parsed as the library parses it, and offered only when it is
// certain to be the finished listing's entry for its name; a name listed
// again is withdrawn. This runs in the goroutine reading the listing, with
// no lock of its own; the sink's are the caller's. A line forged by a name
// holding a line break, when it comes before the real line of the name it
// forges, is offered until the real line arrives and withdraws it: for
// that while, a lookup may see the forged entry (fusefs shows such entries
// with owner bits only on allow_other mounts, so no other local user gains
// access by it).
//
// Bounds (bounds.go, listcap.go, slowlist.go, phase.go): every remote
// operation ends when its context ends, deadline or cancellation, and its
// connections are closed under it, data connection included (conn.bind);
// callers that must not stop for a signal pass a context without
// cancellation. A login has one timeout from its start, whoever waits for
// it. Whole-file transfers (uploads, downloads) get contexts without
// deadline, so each of their control-channel phases has one timeout of its
// own: from the transfer command until the data flows, and from the
// server's first byte after the data's end (from the data's end where the
// kernel cannot count received bytes) through the final reply and the
// SIZE check; the data phase, and the silence while the data drains, are
// bounded per network read and write. The control connection accepts at
// most maxReplyBytes between two commands, and one listing at most
// max_listing entries (cut while it arrives). At most half the connections
// serve slow listings; a listing that turns slow beyond that is cut and
// waits for a slot holding no connection, then starts again.
//
// Scheduling (sched.go): every request has a class. Foreground is work a
// program waits for; background is work done ahead of need, marked by its
// context (package priority), and read-ahead lanes and the spare when the
// context carries no class. Background is served only while no foreground
// request waits, first come first served among itself, and holds at most
// all connections but one; one in line parks a background reader idle
// longer than the grace (lanes yield to each other). A background request
// promoted while it waits competes as foreground. A foreground request
// that finds nothing free takes the spare back, closes an idle reader's stream (a background
// reader's first), waits a few round trips (bgGrace) for background
// readers to give their streams back before their next read, then
// preempts one whose context carries its class (promotion protects what a
// program waits for): its sockets are closed and it fails with
// ErrPreempted, which is never retried, resumed or taken for a silent
// server. Background work does not judge the server's health either (a
// prefetch the server drips into its deadline does not put the mount on
// short waits; neither does a background get's dial, nor a lane's stream
// that stalls), and a background listing that turns slow is dropped with
// ErrPreempted instead of taking a slow slot.
//
// The spare (spare.go), a control connection with EPSV sent and its data
// connection connected, serves isolated reads (pieces) and whole-file
// uploads (sparestore.go: STOR's reply and the data connection's TLS
// handshake then share one round trip; a program copying many small files
// saves two round trips a file). A foreground operation that takes it
// adopts its connection: it no longer counts as background.
//
// Passive ports asked ahead (passive.go): on vsftpd 3 or later a download
// sends the next transfer's EPSV as soon as its data ends, before the
// final reply, and opens the data connection to the port; the next lend's
// first download on that connection sends RETR on it at once. At most
// aheadMaxHeld connections hold such a port on the server.
//
// Lending (lend.go): run binds a lent connection to its operation's
// context and notes what the server did; put gives it back or drops it
// (broken, cut, preempted, or its session ended by a 421 even among
// pipelined replies whose first answered the operation); report logs and
// tells Config.OnOp. Health (health.go): whether the
// server answers, and how many connections it allows.
//
// Lock order: Reader.mu before Pool.mu; listingWatch.mu before Pool.mu;
// Pool.mu and spareSlot.mu are never held together (spare.go takes one,
// lets go, then the other), nor across network I/O. A spare's connection
// is lent like any other: the goroutine holding the spare owns it. A get
// about to wait reclaims the spare (spareSlot.mu, released, then Pool.mu
// to give the connection back), so spareSlot.mu is also taken under a
// Reader's mu (a reader opening its stream); nothing is locked under it.
// Pool.mu is never held across network I/O; a Reader's mu is (it serialises
// that reader's stream). listingWatch.mu is held while the watch closes a
// listing's sockets (conn.interrupt, which does not wait for the network),
// so that end reports a cut only once it is complete; a phase timer's mu
// likewise (phase.mu before conn.sockets; it guards only the timer's
// state). conn.sockets guards only the two socket fields and is held for
// nothing else. Pool.mu also guards the scheduler's state: the counts of
// background lends and its queue (Pool.bgLent, bgStreams, bgQueue; a
// dial counts in these and in streams from the moment it takes its slot
// in open, so gets starting together on a cold pool cannot all dial past
// the limits) and
// each conn's class fields (bg, holder, idleReader); a reader
// updates its conn's holder under its own mu, then Pool.mu (reclass; a
// read's start sets holder and clears idleReader in one hold, readerBusy,
// so a stream is never busy under the last read's class). A
// preemption picks its victim and marks it preempted under Pool.mu, and
// closes the victim's sockets after letting go; put reads the mark under
// Pool.mu and drops a marked connection, so a holder that gives it back in
// between does not leave the cut waiting on the idle list. A get that parks an idle reader (Reader.park)
// takes that reader's mu with TryLock, possibly under the mu of the
// reader it opens a stream for: TryLock never waits, so this needs no
// order between readers. health takes no lock (atomics).
package pool
