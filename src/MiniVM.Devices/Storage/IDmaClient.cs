namespace MiniVM.Devices.Storage;

/// <summary>
/// An ISA device wired to a DMA channel (the floppy controller on channel 2). When its DREQ is asserted
/// and the channel is unmasked, the DMA controller calls back so the device can move its bytes with
/// <see cref="Dma8237.WriteMemory"/> / <see cref="Dma8237.ReadMemory"/>.
/// </summary>
public interface IDmaClient
{
    void ServiceDma(Dma8237 dma, int channel);
}
