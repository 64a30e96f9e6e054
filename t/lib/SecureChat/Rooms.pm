package SecureChat::Rooms;

# Helpers for the rooms tests (t/04*.t): the suite's http_config with a
# zone of its own (so that a block starts empty under TEST_NGINX_USE_HUP as
# well) and the four users, and calls as a user, logged in once per block.

use strict;
use warnings;

use Exporter 'import';
use JSON::PP ();
use SecureChat::Test ();

our @EXPORT_OK = qw(http_config forget call outcome names create);

my $JSON = JSON::PP->new->utf8->canonical;

our %Session;    # user => [cookie, csrf]

sub http_config {
    my ($zone, $extra) = @_;
    (my $c = $SecureChat::Test::HttpConfig) =~ s/zone=securechat:/zone=$zone:/;
    $c =~ s{(securechat_users\s+\S+)/users;}{$1/users-four;};
    return $c . ($extra // '');
}

# the next call of each user logs in again
sub forget { %Session = (); return }

sub session {
    my $user = shift;
    $Session{$user} ||= [SecureChat::Test::login($user, "$user-password")];
    return $Session{$user};
}

# one request as user (undef: none); returns (status, decoded body, headers)
sub call {
    my ($user, $method, $uri, $body, $more) = @_;
    my %h = %{ $more || {} };

    if (defined $user) {
        my ($cookie, $csrf) = @{ session($user) };
        $h{Cookie} = "sc_session=$cookie";
        $h{'X-CSRF-Token'} //= $csrf if $method ne 'GET';
    }
    $body = $JSON->encode($body) if ref $body;
    $h{'Content-Type'} //= 'application/json' if defined $body;

    my ($status, $hd, $rbody) = SecureChat::Test::http_request($method,
                                                     $uri, \%h, $body);
    my $doc = eval { $JSON->decode($rbody) };
    die "$method $uri: not JSON: $rbody\n" unless $doc;
    return ($status, $doc, $hd);
}

# "status code" of a call ("200 ok" when there is no error), for is()
sub outcome {
    my ($status, $doc) = call(@_);
    return "$status " . ($doc->{error} // 'ok');
}

# the names of a {"rooms": [...]} answer
sub names {
    my $doc = shift;
    return join ' ', map { $_->{name} } @{ $doc->{rooms} };
}

sub create {
    my ($user, $name, %o) = @_;
    return outcome($user, 'POST', '/api/rooms', { name => $name, %o });
}

1;
