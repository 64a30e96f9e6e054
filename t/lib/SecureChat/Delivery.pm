package SecureChat::Delivery;

# Helpers for t/042-rooms-delivery.t (a room's messages and membership
# events reach its members' sockets only): logging users in with their
# keys, calls as them, posting to a room, reading a WebSocket until a
# given frame came (every frame kept, in order, bounded in time), and one
# line of text for each frame, for is_deeply.
#
# That a socket did NOT get something is shown without waiting for
# nothing: a later message to general is waited for, and frames come in
# increasing id, so whatever of the room had been meant for the socket
# would have come before it.

use strict;
use warnings;

use Exporter 'import';
use JSON::PP ();
use Time::HiRes qw(time);
use SecureChat::Chat ();
use SecureChat::Test ();

our @EXPORT_OK = qw(chats call act post post_id until_frame settle rooms_of
                    show shows text_is is_event is_error ids_rise);

my $JSON = JSON::PP->new->utf8->canonical;

# logs the users in with the fixture key, their passwords USER-password
# (users-four), the server key read once
sub chats {
    my @users = @_;
    my $server = SecureChat::Chat::server_key();
    return map { SecureChat::Chat->login($_, "$_-password", server => $server) }
           @users;
}

# one request as a SecureChat::Chat (its session and CSRF token); returns
# "status code" ("200 ok" when there is no error), the decoded body and
# the headers
sub call {
    my ($chat, $method, $uri, $body) = @_;
    my %h = (Cookie => "sc_session=$chat->{cookie}");

    $h{'X-CSRF-Token'} = $chat->{csrf} if $method ne 'GET';
    if (defined $body) {
        $body = $JSON->encode($body) if ref $body;
        $h{'Content-Type'} = 'application/json';
    }

    my ($st, $hdrs, $raw) = SecureChat::Test::http_request($method, $uri,
                                                           \%h, $body);
    my $doc = eval { $JSON->decode($raw) } // {};
    return ("$st " . ($doc->{error} // 'ok'), $doc, $hdrs);
}

# the "status code" of a call alone, for is()
sub act { return (call(@_))[0] }

# POST /api/chat, with "room" when one is given; returns "202 ok" (or
# "403 muted", ...) and the id
sub post_id {
    my ($chat, $text, $room) = @_;
    my ($outcome, $doc) = call($chat, 'POST', '/api/chat',
        { message => $text, (defined $room ? (room => $room) : ()) });
    return ($outcome, $doc->{id});
}

# the "status code" of a post alone, for is()
sub post { return (post_id(@_))[0] }

sub text_is {
    my $text = shift;
    return sub { $_[0]{type} eq 'message' && ($_[0]{text} // '') eq $text };
}

sub is_event {
    my ($event, $user) = @_;
    return sub { $_[0]{type} eq 'event' && ($_[0]{event} // '') eq $event
                 && (!defined $user || ($_[0]{user} // '') eq $user) };
}

sub is_error {
    return sub { $_[0]{type} eq 'error' };
}

# Reads from connection $c until a frame satisfies $want (a code ref, or
# the text of a message), at most $timeout seconds (5 by default, 30
# under valgrind), or the socket closes; returns the frames read, the
# matching one last, and whether it came.
sub until_frame {
    my ($c, $want, $timeout) = @_;
    $want = text_is($want) unless ref $want;
    my $end = time + ($timeout // ($ENV{TEST_NGINX_USE_VALGRIND} ? 30 : 5));
    my @got;

    while ((my $left = $end - time) > 0) {
        my $e = $c->next_event($left) // last;
        push @got, $e;
        return (\@got, 1) if $want->($e);
        last if $e->{type} eq 'close' || $e->{type} eq 'eof';
    }

    return (\@got, 0);
}

# a frame as one line: "message ROOM SENDER: TEXT" (verified and
# decrypted, the room from the signed header), "event E ROOM USER by B",
# ("event deleted ROOM by B", "event title ROOM by B title T"; role
# events end "role R"), "error CODE", "gap ROOM FROM-TO", "close CODE"
sub show {
    my $e = shift;
    my $t = $e->{type} // '?';

    if ($t eq 'message') {
        return "message #$e->{id} did not open ($e->{rc})" unless $e->{ok};
        return "message $e->{room} $e->{sender}: $e->{text}";
    }
    if ($t eq 'event') {
        # a room deleted or retitled names no user but its actor (by):
        # whatever "user" such an event carries is not shown
        my @f = ($e->{event} // '') =~ /\A(?:deleted|title)\z/
              ? qw(event room) : qw(event room user);
        my $s = join ' ', 'event', map({ $e->{$_} // '-' } @f),
                          'by', $e->{by} // '-';
        $s .= " role $e->{role}" if defined $e->{role};
        $s .= " title $e->{title}" if defined $e->{title};
        return $s;
    }
    return "error " . ($e->{code} // '-') if $t eq 'error';
    return "gap " . ($e->{room} // '-') . " $e->{from}-$e->{to}" if $t eq 'gap';
    return "close " . ($e->{code} // '-') if $t eq 'close';
    return $t;
}

sub shows { return [map { show($_) } @{ $_[0] }] }

# Posts $text to general as $chat and reads each connection until it
# came; returns for each the frames that came before it.  A block calls
# it once its sockets are open, so that what it asserts later is not
# mixed with what the socket may still get of the setup: a socket starts
# at the worker's delivery cursor, so an event committed just before the
# connection but not yet delivered by that worker may still come to it
# (as a message would, today).
sub settle {
    my ($chat, $text, @conns) = @_;
    post($chat, $text);
    return map {
        my ($f) = until_frame($_, $text);
        pop @$f if @$f && ($f->[-1]{text} // '') eq $text;
        $f;
    } @conns;
}

# the names of the rooms of a SecureChat::Chat's user
sub rooms_of {
    my ($chat) = @_;
    my (undef, $doc) = call($chat, 'GET', '/api/rooms');
    return map { $_->{name} } @{ $doc->{rooms} || [] };
}

# the frames with an id (messages, events) come in increasing id in each
# room (ids are per room), and consecutive unless a gap frame says why
sub ids_rise {
    my %last;
    for my $f (@{ $_[0] }) {
        my $room = $f->{room} // next;
        if (($f->{type} // '') eq 'gap') {
            return 0 if defined $last{$room} && $f->{from} != $last{$room} + 1;
            $last{$room} = $f->{to};
            next;
        }
        next unless defined $f->{id};
        return 0 if defined $last{$room} && $f->{id} != $last{$room} + 1;
        $last{$room} = $f->{id};
    }
    return 1;
}

1;
