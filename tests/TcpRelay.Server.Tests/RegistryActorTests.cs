using System.Net;
using Akka.Actor;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using TcpRelay.Protocol;
using TcpRelay.Server.Actors;
using TcpRelay.Server.Cluster;
using TcpRelay.Server.Registration;

namespace TcpRelay.Server.Tests;

/// <summary>The registry's tables, with app actors replaced by stand-ins that report to a probe.</summary>
public sealed class RegistryActorTests : TestKit
{
    private static readonly IPEndPoint Remote = new(IPAddress.Loopback, 40000);
    private readonly TestProbe _apps;
    private readonly RelaySettings _settings = TestSettings.Relay(publicPorts: 3);
    private readonly IActorRef _registry;

    public RegistryActorTests() : base("akka.loglevel = WARNING")
    {
        _apps = CreateTestProbe("apps");
        var apps = _apps.Ref;
        _registry = Sys.ActorOf(StandaloneRegistryActor.CreateProps(_settings, 9999, spec => Props.Create(() => new StandInApp(apps, spec))));
    }

    /// <summary>Reports its spec to the registering channel when created, and forwards whatever it is sent to a probe.</summary>
    private sealed class StandInApp : ReceiveActor
    {
        public StandInApp(IActorRef probe, RegistryActor.Registration spec)
        {
            spec.Channel.Tell(spec);
            ReceiveAny(m => probe.Forward(m));
        }
    }

    /// <summary>Registers through a fresh channel probe, which gets either the new app's spec or a refusal.</summary>
    private (TestProbe Channel, RegistryActor.Registration? Spec, ControlChannelActor.Refused? Refused) Register(
        string? name = null, int? port = null, ResumeToken? resume = null)
    {
        var channel = CreateTestProbe();
        _registry.Tell(new RegistryActor.RegisterApp(name is null ? null : AppName.Parse(name).Value, port, Hash(resume), Remote), channel.Ref);
        var answer = channel.ExpectMsg<object>(TimeSpan.FromSeconds(3));
        _lastApp = channel.LastSender;
        return (channel, answer as RegistryActor.Registration, answer as ControlChannelActor.Refused);
    }

    private IActorRef _lastApp = ActorRefs.Nobody;

    private static string? Hash(ResumeToken? token) => token is { } t ? ResumeHash.Of(t) : null;

    [Fact]
    public void Apps_get_made_up_names_and_the_lowest_free_ports()
    {
        var first = Register().Spec!;
        var second = Register().Spec!;
        Assert.Equal("app-1", first.Name.Value);
        Assert.Equal("app-2", second.Name.Value);
        Assert.Equal(_settings.PublicPorts.First, first.Port);
        Assert.Equal(_settings.PublicPorts.First + 1, second.Port);
        Assert.False(first.PortRequested);
    }

    [Fact]
    public void The_relay_s_own_ports_inside_the_public_range_are_skipped_and_refused()
    {
        // protocol.md's table: public 8081-8180 holds the data port 8082.
        var settings = new RelaySettings
        {
            Bind = IPAddress.Loopback, ControlPort = 8080, DataPort = 8082, PublicPorts = new PublicPortRange(8081, 8180),
        };
        var apps = _apps.Ref;
        var registry = Sys.ActorOf(StandaloneRegistryActor.CreateProps(settings, 8082, spec => Props.Create(() => new StandInApp(apps, spec))));
        var channel = CreateTestProbe();
        registry.Tell(new RegistryActor.RegisterApp(null, null, null, Remote), channel.Ref);
        Assert.Equal(8081, channel.ExpectMsg<RegistryActor.Registration>().Port);
        registry.Tell(new RegistryActor.RegisterApp(null, null, null, Remote), channel.Ref);
        Assert.Equal(8083, channel.ExpectMsg<RegistryActor.Registration>().Port);
        registry.Tell(new RegistryActor.RegisterApp(null, 8082, null, Remote), channel.Ref);
        Assert.Equal(ErrorCode.PortInUse, channel.ExpectMsg<ControlChannelActor.Refused>().Code);
    }

    [Fact]
    public void Only_the_app_s_own_resume_token_takes_its_name_back()
    {
        var token = ResumeToken.New();
        var held = Register("back", resume: token).Spec!;
        Assert.Equal(ResumeHash.Of(token), held.ResumeSha256);

        Assert.Equal(ErrorCode.NameInUse, Register("back").Refused!.Code);
        Assert.Equal(ErrorCode.NameInUse, Register("back", resume: ResumeToken.New()).Refused!.Code);
        _apps.ExpectNoMsg(TimeSpan.FromMilliseconds(100));

        var returning = CreateTestProbe();
        _registry.Tell(new RegistryActor.RegisterApp(held.Name, held.Port, Hash(token), Remote), returning.Ref);
        Assert.Equal(returning.Ref, _apps.ExpectMsg<AppActor.Resume>().Channel);
    }

    [Fact]
    public void A_returning_app_asking_for_another_port_is_refused_and_its_app_not_told()
    {
        var token = ResumeToken.New();
        var held = Register("moving", resume: token).Spec!;
        var refused = Register("moving", port: held.Port + 1, resume: token).Refused!;
        Assert.Equal(ErrorCode.NameInUse, refused.Code);
        Assert.Contains($"held with port {held.Port}", refused.Text);
        _apps.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void A_name_in_use_is_refused_before_the_port_is_looked_at()
    {
        Register("web");
        var refused = Register("web", port: 1).Refused!;
        Assert.Equal(ErrorCode.NameInUse, refused.Code);
    }

    [Fact]
    public void Ports_outside_the_range_or_in_use_are_refused()
    {
        var taken = Register(port: _settings.PublicPorts.Last).Spec!;
        Assert.True(taken.PortRequested);
        Assert.Equal(ErrorCode.PortInUse, Register(port: _settings.PublicPorts.Last).Refused!.Code);
        Assert.Equal(ErrorCode.PortNotAllowed, Register(port: _settings.PublicPorts.Last + 1).Refused!.Code);
    }

    [Fact]
    public void A_full_range_gives_limit_and_a_freed_port_is_reused()
    {
        var apps = Enumerable.Range(0, 3).Select(_ => Register().Spec!).ToList();
        var lastApp = _lastApp;
        Assert.Equal(ErrorCode.Limit, Register().Refused!.Code);

        Sys.Stop(lastApp);
        AwaitAssert(() => Assert.Equal(apps[^1].Port, Register().Spec?.Port), TimeSpan.FromSeconds(3));
    }

    [Fact]
    public void A_port_another_process_holds_is_skipped_for_the_next()
    {
        var spec = Register().Spec!;
        var app = _lastApp;
        _registry.Tell(new RegistryActor.PortUnavailable(spec.Port, Requested: false), app);
        Assert.Equal(spec.Port + 1, _apps.ExpectMsg<PublicPortActor.BindPort>().Port);
    }

    [Fact]
    public void A_requested_port_another_process_holds_is_refused()
    {
        var (channel, spec, _) = Register(port: _settings.PublicPorts.First);
        _registry.Tell(new RegistryActor.PortUnavailable(spec!.Port, Requested: true), _lastApp);
        Assert.Equal(ErrorCode.PortInUse, channel.ExpectMsg<ControlChannelActor.Refused>().Code);
    }

    [Fact]
    public void A_departed_app_frees_its_name_at_once()
    {
        Register("gone");
        _registry.Tell(new RegistryActor.AppDeparted(AppName.Parse("gone").Value), _lastApp);
        Assert.NotNull(Register("gone").Spec);
    }

    [Fact]
    public void In_a_cluster_a_name_granted_for_an_abandoned_claim_is_given_back_when_the_claim_kept_for_it_is_refused()
    {
        var directory = CreateTestProbe();
        var apps = _apps.Ref;
        var registry = Sys.ActorOf(NodeRegistryActor.CreateProps(_settings, 9999, directory.Ref, spec => Props.Create(() => new StandInApp(apps, spec))));
        var token = ResumeToken.New();
        ClusterDirectoryActor.Claim ClaimSeen() => (ClusterDirectoryActor.Claim)directory.FishForMessage(m => m is ClusterDirectoryActor.Claim, TimeSpan.FromSeconds(3));

        // The app asks for "x"; its connection closes before the answer.
        var first = CreateTestProbe();
        registry.Tell(new RegistryActor.RegisterApp(AppName.Parse("x").Value, null, Hash(token), Remote), first.Ref);
        var firstClaim = ClaimSeen();
        Watch(first.Ref);
        Sys.Stop(first.Ref);
        ExpectTerminated(first.Ref);
        // It comes back at once, with its token but another port.
        var second = CreateTestProbe();
        registry.Tell(new RegistryActor.RegisterApp(AppName.Parse("x").Value, _settings.PublicPorts.First + 1, Hash(token), Remote), second.Ref);
        var secondClaim = ClaimSeen();

        // "x" is granted for the first claim (kept here for the second, which has the token)...
        var granted = new ClusterDirectoryActor.AppEntry(AppName.Parse("x").Value, _settings.PublicPorts.First, Hash(token), false, registry, null);
        registry.Tell(new ClusterDirectoryActor.Table([granted]), directory.Ref);
        registry.Tell(new ClusterDirectoryActor.Granted(firstClaim.Ref, AppName.Parse("x").Value, _settings.PublicPorts.First), directory.Ref);
        // ...and the second is refused: the name is held with another port.
        registry.Tell(new ClusterDirectoryActor.Denied(secondClaim.Ref, ErrorCode.NameInUse, "name 'x' is held with another port"), directory.Ref);

        Assert.Equal(ErrorCode.NameInUse, second.ExpectMsg<ControlChannelActor.Refused>().Code);
        var unclaimed = (ClusterDirectoryActor.Unclaimed)directory.FishForMessage(m => m is ClusterDirectoryActor.Unclaimed, TimeSpan.FromSeconds(3));
        Assert.Equal("x", unclaimed.Name.Value);
    }
}
