# Vestibule's build and installation for any distribution; the Debian packages (debian/rules)
# install through this same file, so `make install` and the .debs have one layout.
#
#   make                       release build of every program, man pages and completions
#   make install DESTDIR=… PREFIX=…
#   make deb                   the Debian packages, into target/deb/ (needs debhelper)
#
# PREFIX defaults to /usr/local. The PAM services and the configuration always go under
# $(SYSCONFDIR) (default /etc): PAM and the programs read them there. The units, the D-Bus files
# and the sysusers/tmpfiles entries go where systemd and dbus-daemon look for them under PREFIX;
# the units, D-Bus activation file and agent's default paths are rewritten for PREFIX.

PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
LIBEXECDIR ?= $(PREFIX)/libexec
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
DOCDIR ?= $(DATADIR)/doc/vestibule
LIBDIR_SYSTEMD ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd,$(PREFIX)/lib/systemd)
UNITDIR ?= $(LIBDIR_SYSTEMD)/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
DBUSDIR ?= $(DATADIR)/dbus-1
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
# Debian's zsh reads vendor-completions under /usr; zsh's own default under other prefixes.
ZSHCOMPDIR ?= $(if $(filter /usr,$(PREFIX)),$(DATADIR)/zsh/vendor-completions,$(DATADIR)/zsh/site-functions)

CARGO ?= cargo
CARGO_TARGET_DIR ?= target
export CARGO_TARGET_DIR
RELEASE := $(CARGO_TARGET_DIR)/release
GEN := $(CARGO_TARGET_DIR)/generated

INSTALL ?= install
# vestibuled's daemon and the agent: system administration (sbin, section 8); the worker: only
# the daemon runs it (libexec); the rest: /usr/bin.
SBIN_PROGRAMS := vestibuled vestibule-agent
BIN_PROGRAMS := vestibule-login vestibule-tui vestibulectl
GTK_PROGRAMS := vestibule-gtk
COMPLETIONS := vestibuled vestibule-agent vestibule-login vestibule-tui vestibulectl vestibule-gtk

# Installed paths written into the units and the D-Bus activation file (data/ names the
# /usr/local defaults).
SUBST := sed -e 's|/usr/local/sbin/|$(SBINDIR)/|g' \
	-e 's|/usr/local/bin/|$(BINDIR)/|g' \
	-e 's|/usr/libexec/vestibule/|$(LIBEXECDIR)/vestibule/|g' \
	-e 's|file:/usr/share/doc/vestibule/|file:$(DOCDIR)/|g'

.PHONY: all build man install install-core install-gtk deb clean-deb
all: build man

build:
	$(CARGO) build --release --locked -p vestibuled -p vestibule-login -p vestibule-tui \
		-p vestibule-gtk -p vestibule-agent -p vestibule-mangen --bins

# Man pages and completions, from the programs' own --help and the documented config files.
man: build
	rm -rf $(GEN)
	$(RELEASE)/vestibule-mangen --bindir $(RELEASE) --data data --out $(GEN)
	gzip -9n $(GEN)/man/man*/*

# Nothing is built here: `make` (or `make build man`) first, as an ordinary user if wanted.
install: install-core install-gtk

install-core:
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBEXECDIR)/vestibule
	$(INSTALL) -m 0755 $(addprefix $(RELEASE)/,$(SBIN_PROGRAMS)) $(DESTDIR)$(SBINDIR)/
	$(INSTALL) -m 0755 $(addprefix $(RELEASE)/,$(BIN_PROGRAMS)) $(DESTDIR)$(BINDIR)/
	$(INSTALL) -m 0755 $(RELEASE)/vestibule-worker $(DESTDIR)$(LIBEXECDIR)/vestibule/
	$(INSTALL) -d $(DESTDIR)$(SYSCONFDIR)/pam.d $(DESTDIR)$(SYSCONFDIR)/vestibule
	$(INSTALL) -m 0644 data/pam.d/vestibule data/pam.d/vestibule-greeter \
		data/pam.d/vestibule-autologin $(DESTDIR)$(SYSCONFDIR)/pam.d/
	$(INSTALL) -m 0644 data/vestibuled.toml $(DESTDIR)$(SYSCONFDIR)/vestibule/vestibuled.toml
	$(INSTALL) -m 0644 data/config.example.toml $(DESTDIR)$(SYSCONFDIR)/vestibule/config.toml
	$(INSTALL) -d $(DESTDIR)$(UNITDIR)
	for u in vestibuled@.service vestibule-agent.service; do \
		$(SUBST) data/systemd/$$u > $(DESTDIR)$(UNITDIR)/$$u && chmod 0644 $(DESTDIR)$(UNITDIR)/$$u; \
	done
	$(INSTALL) -d $(DESTDIR)$(DBUSDIR)/system.d $(DESTDIR)$(DBUSDIR)/system-services \
		$(DESTDIR)$(DBUSDIR)/interfaces
	$(INSTALL) -m 0644 data/dbus/org.vestibule.SessionAgent1.conf data/dbus/vestibule-login1.conf \
		$(DESTDIR)$(DBUSDIR)/system.d/
	$(SUBST) data/dbus/org.vestibule.SessionAgent1.service \
		> $(DESTDIR)$(DBUSDIR)/system-services/org.vestibule.SessionAgent1.service
	chmod 0644 $(DESTDIR)$(DBUSDIR)/system-services/org.vestibule.SessionAgent1.service
	$(INSTALL) -m 0644 data/dbus/org.vestibule.SessionAgent1.xml \
		data/dbus/org.vestibule.SessionAgent1.Session.xml $(DESTDIR)$(DBUSDIR)/interfaces/
	$(INSTALL) -d $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR)
	$(INSTALL) -m 0644 data/sysusers.d/vestibule.conf $(DESTDIR)$(SYSUSERSDIR)/vestibule.conf
	$(INSTALL) -m 0644 data/tmpfiles.d/vestibule.conf $(DESTDIR)$(TMPFILESDIR)/vestibule.conf
	$(INSTALL) -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	for p in vestibule-login vestibule-tui vestibulectl; do \
		$(INSTALL) -m 0644 $(GEN)/man/man1/$$p.1.gz $(DESTDIR)$(MANDIR)/man1/; done
	$(INSTALL) -m 0644 $(GEN)/man/man5/*.5.gz $(DESTDIR)$(MANDIR)/man5/
	$(INSTALL) -m 0644 $(GEN)/man/man8/*.8.gz $(DESTDIR)$(MANDIR)/man8/
	$(INSTALL) -d $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR)
	for p in $(filter-out $(GTK_PROGRAMS),$(COMPLETIONS)); do \
		$(INSTALL) -m 0644 $(GEN)/completions/bash/$$p $(DESTDIR)$(BASHCOMPDIR)/ && \
		$(INSTALL) -m 0644 $(GEN)/completions/zsh/_$$p $(DESTDIR)$(ZSHCOMPDIR)/; done
	$(INSTALL) -d $(DESTDIR)$(DOCDIR)/examples
	$(INSTALL) -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	$(INSTALL) -m 0644 daemon/README.md $(DESTDIR)$(DOCDIR)/vestibuled.md
	$(INSTALL) -m 0644 ipc/PROTOCOL.md $(DESTDIR)$(DOCDIR)/PROTOCOL.md
	$(INSTALL) -m 0644 data/config.example.toml data/vestibuled.toml $(DESTDIR)$(DOCDIR)/examples/

# The desktop greeter and lock screen: the only part that needs GTK (package vestibule-gtk).
install-gtk:
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SYSCONFDIR)/pam.d $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR)
	$(INSTALL) -m 0755 $(RELEASE)/vestibule-gtk $(DESTDIR)$(BINDIR)/
	$(INSTALL) -m 0644 data/pam.d/vestibule-lock $(DESTDIR)$(SYSCONFDIR)/pam.d/
	$(INSTALL) -m 0644 $(GEN)/man/man1/vestibule-gtk.1.gz $(DESTDIR)$(MANDIR)/man1/
	$(INSTALL) -m 0644 $(GEN)/completions/bash/vestibule-gtk $(DESTDIR)$(BASHCOMPDIR)/
	$(INSTALL) -m 0644 $(GEN)/completions/zsh/_vestibule-gtk $(DESTDIR)$(ZSHCOMPDIR)/

# The .debs from the release build above (debian/rules runs `make install`), into target/deb/.
# debian/rules directly rather than dpkg-buildpackage: the same build, without the .changes and
# .buildinfo for an upload that dpkg-buildpackage writes into the parent directory.
deb: all
	debian/rules binary

clean-deb:
	rm -rf debian/tmp debian/vestibule debian/vestibule-gtk debian/.debhelper debian/files \
		debian/*.substvars debian/debhelper-build-stamp
