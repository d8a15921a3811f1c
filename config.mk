# emokd build configuration; override on the command line (make PREFIX=/usr).
VERSION   := 0.1.0
PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
MANPREFIX ?= $(PREFIX)/share/man
DESTDIR   ?=
SHARED    ?= ../shared

CC        ?= cc
CXX       ?= c++
PKG_CONFIG ?= pkg-config
INSTALL   ?= install
INSTALL_PROGRAM ?= $(INSTALL) -m 755
INSTALL_MAN     ?= $(INSTALL) -m 644

# msgpack-c is "msgpack" in Debian's 4.x and "msgpack-c" upstream from 6.x.
MSGPACK_PC := $(shell $(PKG_CONFIG) --exists msgpack-c && echo msgpack-c || echo msgpack)
PKGS      := $(MSGPACK_PC) libzstd openblas libutf8proc jansson libxxhash
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS))
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS))
SPM_LIBS   := $(shell $(PKG_CONFIG) --libs sentencepiece 2>/dev/null || echo -lsentencepiece)
# Open MPI's headers, for lib/dist alone (libmpi itself is loaded with dlopen under mpirun,
# so nothing links against it): pkg-config's ompi-c, else mpicc's own flags.
MPI_CFLAGS := $(shell $(PKG_CONFIG) --cflags ompi-c 2>/dev/null || mpicc --showme:compile 2>/dev/null)

WARN      := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
OPTFLAGS  := -O2 -g
ifeq ($(OPT),1)
OPTFLAGS  := -O3 -g -march=native
endif
ifeq ($(WERROR),1)
WARN      += -Werror
endif
ifeq ($(SANITIZE),1)
OPTFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer
LDSAN     := -fsanitize=address,undefined
endif

CPPFLAGS  += -D_XOPEN_SOURCE=700 -D_DEFAULT_SOURCE -Ilib $(PKG_CFLAGS)
CFLAGS    ?=
CFLAGS    += -std=c11 $(OPTFLAGS) $(WARN) -MMD -MP -pthread
CXXFLAGS  += -std=c++17 $(OPTFLAGS) -Wall -Wextra -MMD -MP -Ilib
LDLIBS    += $(PKG_LIBS) $(SPM_LIBS) -lstdc++ -lm -pthread
LDFLAGS   += $(LDSAN)
