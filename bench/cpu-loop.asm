; A one-sector boot image that runs bench/MiniVM.Bench.Cpu/GuestLoop.cs's guest loop on a real PC, for
; bench/cpu-vs-bochs.sh (MiniVM vs Bochs vs qemu-system-i386) and tests/MiniVM.Machine.Tests/CpuLoopImageTests.cs.
; Build: nasm -f bin -o cpu-loop.bin bench/cpu-loop.asm. The checked-in bench/cpu-loop.bin is this file assembled
; (the script refuses to run when they differ), so the test needs no assembler.
;
; The BIOS loads the sector at 0x7C00. It enables A20, enters 32-bit protected mode with flat segments, turns on
; 4 KiB paging (one page table identity-mapping the first 4 MiB, CR0.WP as in GuestLoop), runs the loop
; ITERATIONS times (the dword at offset 0x1F8, patched by the script), then reports
;     CPULOOP EAX=xxxxxxxx EBX=xxxxxxxx EDI=xxxxxxxx EBP=xxxxxxxx END
; on COM1 (minivm run --until), port 0xE9 (Bochs port_e9_hack, QEMU isa-debugcon) and port 0x402 (MiniVM's debug
; console), and stops: QEMU's isa-debug-exit (port 0xF4), Bochs's "Shutdown" port (0x8900), then CLI+HLT (MiniVM
; ends a run on HLT with IF=0).
;
; Instructions executed by the loop: 13 per iteration plus 1 for every iteration whose JE falls through to
; INC EBP, and EBP counts exactly those, so the total is 13 * ITERATIONS + EBP.

bits 16
org 0x7C00

PAGE_DIRECTORY equ 0x10000
PAGE_TABLE     equ 0x11000
DATA           equ 0x100000         ; the loop's loads and stores go to the page at 1 MiB, as in GuestLoop

start:
    cli
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7C00
    in al, 0x92                     ; fast A20 (bit 1); bit 0 would reset the machine
    or al, 2
    and al, 0xFE
    out 0x92, al
    lgdt [gdtr]
    mov eax, cr0
    or eax, 1
    mov cr0, eax
    jmp 0x08:protected

bits 32
protected:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov fs, ax
    mov gs, ax
    mov esp, 0x80000
    cld
    mov edi, PAGE_DIRECTORY         ; the BIOS leaves this RAM as it likes: clear the directory first
    xor eax, eax
    mov ecx, 1024
    rep stosd
    mov dword [PAGE_DIRECTORY], PAGE_TABLE | 3
    mov edi, PAGE_TABLE
    mov eax, 3                      ; present, writable
    mov ecx, 1024
.map:
    stosd
    add eax, 0x1000
    loop .map
    mov eax, PAGE_DIRECTORY
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80010000              ; PG | WP
    mov cr0, eax

    ; GuestLoop starts from a reset CPU: EBX, EDI and EBP are 0.
    mov ecx, [iterations]
    xor esi, esi
    xor eax, eax
    xor ebx, ebx
    xor edi, edi
    xor ebp, ebp
top:                                ; the loop, instruction for instruction GuestLoop's
    add eax, ecx                    ; 1
    xor ebx, eax                    ; 2
    mov [esi + DATA], eax           ; 3
    mov edx, [esi + DATA]           ; 4
    add esi, 4                      ; 5
    and esi, 0xFFF                  ; 6
    cmp edx, ebx                    ; 7
    je skip                         ; 8
    inc ebp                         ; 9 (only when JE falls through)
skip:
    call func                       ; 10, + 2 in func
    dec ecx                         ; 13
    jnz top                         ; 14
    jmp report
func:
    lea edi, [edi + edx * 2 + 1]    ; 11
    ret                             ; 12

report:
    mov [result], eax
    mov [result + 4], ebx
    mov [result + 8], edi
    mov [result + 12], ebp
    mov esi, text_head
    call puts
    mov ebp, result
    mov esi, names
.field:
    call puts                       ; "EAX=" ...
    mov ebx, [ebp]
    mov ecx, 8
.digit:
    rol ebx, 4
    mov al, bl
    and al, 0x0F
    add al, '0'
    cmp al, '9'
    jbe .decimal
    add al, 'A' - '9' - 1
.decimal:
    call putc
    loop .digit
    add ebp, 4
    cmp byte [esi], 0
    jne .field
    mov esi, text_tail
    call puts
    mov dx, 0x3FD                   ; let COM1 send its last byte (LSR.TEMT) before the machine stops
    mov ecx, 1000000
.drain:
    in al, dx
    test al, 0x40
    jnz .stop
    loop .drain
.stop:
    xor al, al                      ; QEMU -device isa-debug-exit,iobase=0xf4: exit status (0 << 1) | 1
    out 0xF4, al
    mov esi, shutdown               ; Bochs: "Shutdown" written to port 0x8900 ends the simulation
    mov dx, 0x8900
.shutdown:
    lodsb
    test al, al
    jz .halt
    out dx, al
    jmp .shutdown
.halt:
    cli
    hlt
    jmp .halt

; puts: writes the zero-terminated text at ESI, leaves ESI after its terminator.
puts:
    lodsb
    test al, al
    jz .done
    call putc
    jmp puts
.done:
    ret

; putc: AL to COM1 (waiting, boundedly, for an empty transmitter), port 0xE9 and port 0x402. Keeps every register.
putc:
    pushad
    mov ah, al
    mov dx, 0x3FD
    mov ecx, 100000
.wait:
    in al, dx
    test al, 0x20
    jnz .send
    loop .wait
.send:
    mov al, ah
    mov dx, 0x3F8
    out dx, al
    out 0xE9, al
    mov dx, 0x402
    out dx, al
    popad
    ret

gdtr:
    dw gdt_end - gdt - 1
    dd gdt
gdt:
    dq 0
    dq 0x00CF9A000000FFFF           ; 0x08: flat 32-bit code
    dq 0x00CF92000000FFFF           ; 0x10: flat 32-bit data
gdt_end:

text_head: db "CPULOOP ", 0
names:     db "EAX=", 0, " EBX=", 0, " EDI=", 0, " EBP=", 0, 0
text_tail: db " END", 13, 10, 0
shutdown:  db "Shutdown", 0

result     equ 0x7000               ; 16 bytes of scratch below the image

    times 0x1F8 - ($ - $$) db 0
iterations:
    dd 1000                         ; offset 0x1F8: patched by bench/cpu-vs-bochs.sh and the test
    dw 0
    dw 0xAA55
