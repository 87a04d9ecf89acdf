# Licensed under the Apache License, Version 2.0 (see LICENSE).
#
# A private Apache for map tests that need things Apache::Test's server
# cannot give them: files generated before the server starts (DBM files,
# a module built with apxs, a database), a threaded MPM, or a program
# that is made to crash or hang.  Used by t/map_*.t.
#
#   my $h = MapHarness->new(conf => $lines, mpm => 'event');
#   my ($status, $location) = $h->get('/path');
#   $h->wait_log(qr/.../);  $h->stop;
#
# It is t/load/RwServer.pm (the fault and load tests' server) with the
# map tests' defaults: rewrite traces at level 5 in the error log,
# requests with "Host: localhost", get() answering a list.  The module
# under test is RwServer::our_module(): RW_MODULE, else the one
# Apache::Test loads, else .libs/mod_rewrite.so.
package MapHarness;

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Spec ();
use lib dirname(dirname(File::Spec->rel2abs(__FILE__))) . '/load';

use RwServer;
our @ISA = ('RwServer');

our $HTTPD  = $RwServer::HTTPD;
our $MODDIR = $RwServer::MODDIR;

sub module    { RwServer::our_module() }
sub free_port { RwServer::free_port() }
sub tempdir   { RwServer::tempdir('maptest') }
sub as_user_cmd { RwServer::as_user_cmd(@_) }

# new(conf => TEXT, mpm => prefork|event|worker, dir => DIR,
#     modules => [names])
sub new {
    my ($class, %a) = @_;
    return RwServer::new($class, tag => 'maptest',
                         loglevel => 'warn rewrite:trace5',
                         mpm_conf => "StartServers 2\n", %a);
}

# apache2 -t: (exit status, output)
sub configtest { $_[0]->httpd_cmd('-t') }

# GET path (Host: localhost by default): (status, location, body, seconds)
sub get {
    my ($self, $path, %h) = @_;
    my $r = RwServer::get($self, $path, host => $h{host} || 'localhost');
    my $status = $r->{status}
        || ($r->{error} && $r->{error} =~ /^no connection/ ? '(no connection)'
                                                            : '(none)');
    return ($status, $r->{location}, $r->{body}, $r->{secs});
}

# Value of v= in the Location of a redirect, or '(no redirect: STATUS)'.
sub value {
    my ($self, $path) = @_;
    my ($st, $loc) = $self->get($path);
    return "(no redirect: $st)" unless defined $loc;
    return $loc =~ /[?&]v=([^&]*)/ ? $1 : "(no v= in $loc)";
}

1;
