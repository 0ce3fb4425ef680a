// The name of the function at a code address, for graph.hpp: a coroutine frame's resume
// function. GCC and clang give those functions internal linkage, so dladdr() (which sees only
// exported symbols) cannot name them; the full symbol table (.symtab, kept unless the binary is
// stripped) can. Each ELF object's table is read once, on first use, from its file (the main
// program through /proc/self/exe), using glibc's <elf.h> declarations and <link.h>'s list of
// loaded objects. Nothing here runs unless a call graph is asked for.
#pragma once

#include <cxxabi.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace asyncio::detail {

struct SymbolTable {
  struct Sym {
    std::uint64_t start, size;
    std::string name;
  };
  std::vector<Sym> syms;  // functions, sorted by start

  /// Reads the functions of `path`'s .symtab (or .dynsym when stripped). Empty when the file is
  /// not a readable 64-bit ELF file; every offset is checked against the file's size.
  static std::unique_ptr<SymbolTable> load(const char* path) {
    auto t = std::make_unique<SymbolTable>();
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return t;
    struct stat sb {};
    void* map = MAP_FAILED;
    if (::fstat(fd, &sb) == 0 && sb.st_size >= static_cast<off_t>(sizeof(Elf64_Ehdr)))
      map = ::mmap(nullptr, static_cast<std::size_t>(sb.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (map == MAP_FAILED) return t;
    const auto* base = static_cast<const unsigned char*>(map);
    const std::size_t n = static_cast<std::size_t>(sb.st_size);
    t->read(base, n);
    ::munmap(map, n);
    std::sort(t->syms.begin(), t->syms.end(), [](const Sym& a, const Sym& b) { return a.start < b.start; });
    return t;
  }

  const Sym* find(std::uint64_t rel) const noexcept {
    auto it = std::upper_bound(syms.begin(), syms.end(), rel, [](std::uint64_t v, const Sym& s) { return v < s.start; });
    if (it == syms.begin()) return nullptr;
    --it;
    return rel < it->start + std::max<std::uint64_t>(it->size, 1) ? &*it : nullptr;
  }

 private:
  static bool in(std::size_t off, std::size_t len, std::size_t n) noexcept { return off <= n && len <= n - off; }
  void read(const unsigned char* b, std::size_t n) {
    Elf64_Ehdr eh;
    std::memcpy(&eh, b, sizeof eh);
    if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64) return;
    if (eh.e_shentsize != sizeof(Elf64_Shdr) || !in(eh.e_shoff, std::size_t{eh.e_shnum} * sizeof(Elf64_Shdr), n)) return;
    auto shdr = [&](std::size_t i) {
      Elf64_Shdr s;
      std::memcpy(&s, b + eh.e_shoff + i * sizeof(Elf64_Shdr), sizeof s);
      return s;
    };
    for (Elf64_Word want : {Elf64_Word{SHT_SYMTAB}, Elf64_Word{SHT_DYNSYM}}) {
      for (std::size_t i = 0; i < eh.e_shnum; ++i) {
        Elf64_Shdr s = shdr(i);
        if (s.sh_type != want || s.sh_link >= eh.e_shnum || s.sh_entsize != sizeof(Elf64_Sym)) continue;
        Elf64_Shdr str = shdr(s.sh_link);
        if (!in(s.sh_offset, s.sh_size, n) || !in(str.sh_offset, str.sh_size, n)) continue;
        for (std::size_t k = 0; k < s.sh_size / sizeof(Elf64_Sym); ++k) {
          Elf64_Sym sym;
          std::memcpy(&sym, b + s.sh_offset + k * sizeof(Elf64_Sym), sizeof sym);
          if (ELF64_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_shndx == SHN_UNDEF || sym.st_name >= str.sh_size) continue;
          const char* nm = reinterpret_cast<const char*>(b + str.sh_offset + sym.st_name);
          std::size_t len = ::strnlen(nm, str.sh_size - sym.st_name);
          syms.push_back({sym.st_value, sym.st_size, std::string(nm, len)});
        }
      }
      if (!syms.empty()) return;
    }
  }
};

/// The demangled name of the function containing `addr` ("" if none is found).
inline std::string function_name_at(const void* addr) {
  struct Hit {
    std::uintptr_t addr;
    std::uintptr_t bias = 0;
    std::string path;
    bool found = false;
  } hit{reinterpret_cast<std::uintptr_t>(addr), 0, {}, false};
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* data) -> int {
        auto* h = static_cast<Hit*>(data);
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_LOAD) continue;
          std::uintptr_t lo = info->dlpi_addr + ph.p_vaddr;
          if (h->addr >= lo && h->addr < lo + ph.p_memsz) {
            h->bias = info->dlpi_addr;
            h->path = info->dlpi_name && *info->dlpi_name ? info->dlpi_name : "/proc/self/exe";
            h->found = true;
            return 1;
          }
        }
        return 0;
      },
      &hit);
  if (!hit.found) return {};
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<SymbolTable>> tables;
  std::lock_guard<std::mutex> g(mu);
  auto& t = tables[hit.path];
  if (!t) t = SymbolTable::load(hit.path.c_str());
  const SymbolTable::Sym* s = t->find(hit.addr - hit.bias);
  if (!s) return {};
  int status = 0;
  char* d = abi::__cxa_demangle(s->name.c_str(), nullptr, nullptr, &status);
  std::string out = status == 0 && d ? d : s->name;
  std::free(d);
  return out;
}

}  // namespace asyncio::detail
