package fusefs

import (
	"io/fs"
	"path"
	"sync"
)

// pendingFiles are files created through this mount that the server does
// not have yet: creating costs no transfer of its own (and so cannot
// truncate a file another client made meanwhile); the file reaches the
// server with its content at close or fsync. Until then listings show it
// from here.
type pendingFiles struct {
	mu sync.Mutex
	m  map[string]*fileNode // by remote path
}

func (p *pendingFiles) add(remotePath string, n *fileNode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]*fileNode{}
	}
	p.m[remotePath] = n
}

// remove forgets n (uploaded, or released without an upload).
func (p *pendingFiles) remove(n *fileNode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, v := range p.m {
		if v == n {
			delete(p.m, k)
		}
	}
}

func (p *pendingFiles) has(n *fileNode) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, v := range p.m {
		if v == n {
			return true
		}
	}
	return false
}

// in returns the entries of pending files in dir.
func (p *pendingFiles) in(dir string) []fs.FileInfo {
	p.mu.Lock()
	nodes := make([]*fileNode, 0)
	for k, n := range p.m {
		if path.Dir(k) == dir {
			nodes = append(nodes, n)
		}
	}
	p.mu.Unlock()
	out := make([]fs.FileInfo, 0, len(nodes))
	for _, n := range nodes {
		if fi, ok := n.localInfo(); ok {
			out = append(out, fi)
		}
	}
	return out
}
