package fusefs

import (
	"sync"

	gofs "github.com/hanwen/go-fuse/v2/fs"
)

// Node identities. Inode numbers derive from the path (attr.go), and
// go-fuse hands out one node per identity (inode number and generation).
// A node renamed keeps the number of its old path, so without more a new
// file looked up or created under that old path (mv d old && mv new d)
// would be given the moved node: the kernel would serve its cached pages,
// and reads through it go to whichever path go-fuse names first. So a
// rename moves the generation of every number it carries away on, and
// nodes made from then on get that generation: a node of their own.
type generations struct {
	mu sync.Mutex        // a leaf; guards m
	m  map[uint64]uint64 // by inode number: the generation for new nodes
}

// maxGenerations bounds the numbers remembered. Forgetting them all risks
// only the old confusion, for a node moved long ago and still in use.
const maxGenerations = 100_000

// stableAttr is the identity a new node with number ino (its path's) and
// type typ gets.
func (f *FS) stableAttr(ino uint64, typ uint32) gofs.StableAttr {
	f.gens.mu.Lock()
	defer f.gens.mu.Unlock()
	return gofs.StableAttr{Mode: typ, Ino: ino, Gen: f.gens.m[ino]}
}

// displace moves on the generation of n's number and of every node below
// it the tree knows, before a rename carries them away from their path.
func (f *FS) displace(n *gofs.Inode) {
	var inos []uint64
	var walk func(n *gofs.Inode)
	walk = func(n *gofs.Inode) {
		inos = append(inos, n.StableAttr().Ino)
		for _, ch := range n.Children() {
			walk(ch)
		}
	}
	walk(n)
	f.gens.mu.Lock()
	defer f.gens.mu.Unlock()
	if f.gens.m == nil || len(f.gens.m)+len(inos) > maxGenerations {
		f.gens.m = map[uint64]uint64{}
	}
	for _, ino := range inos {
		f.gens.m[ino]++
	}
}
